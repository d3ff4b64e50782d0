package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers waiting at the same time share syncs, and each returns only after a sync that
// started after its call (a sync already running may have missed its commit).
func TestWALSyncerSharesSyncs(t *testing.T) {
	w := newWALSyncer(t.TempDir() + "/db")
	var syncs, running atomic.Int64
	var starts sync.Map // sync number → start time
	w.syncFile = func(string) error {
		n := syncs.Add(1)
		if running.Add(1) != 1 {
			t.Error("two syncs ran at once")
		}
		starts.Store(n, time.Now())
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	const callers = 64
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			called := time.Now()
			if err := w.Sync(); err != nil {
				t.Error(err)
			}
			// Some sync that completed before Sync returned must have started after the call.
			covered := false
			w.mu.Lock()
			done := w.completed
			w.mu.Unlock()
			for n := uint64(1); n <= done; n++ {
				if at, ok := starts.Load(int64(n)); ok && !at.(time.Time).Before(called) {
					covered = true
				}
			}
			if !covered {
				t.Error("Sync returned without a sync that started after the call")
			}
		}()
	}
	wg.Wait()
	if n := syncs.Load(); n >= callers {
		t.Errorf("%d callers caused %d syncs; want them shared", callers, n)
	}
}

// A failed sync fails the callers that waited for it, and only them: after a failed fsync
// the data of those commits may be gone even if a later sync succeeds.
func TestWALSyncerReportsFailedSync(t *testing.T) {
	w := newWALSyncer(t.TempDir() + "/db")
	fail := true
	w.syncFile = func(string) error {
		if fail {
			return errors.New("disk on fire")
		}
		return nil
	}
	if err := w.Sync(); err == nil {
		t.Fatal("Sync succeeded although the sync failed")
	}
	fail = false
	if err := w.Sync(); err != nil {
		t.Fatalf("a later, successful sync: %v", err)
	}
}

// A missing WAL file means everything is in the (synced) database file.
func TestWALSyncerWithoutWAL(t *testing.T) {
	if err := newWALSyncer(t.TempDir() + "/db").Sync(); err != nil {
		t.Fatal(err)
	}
}
