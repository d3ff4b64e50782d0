package store

import (
	"errors"
	"strings"
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

// A failed sync is final: the callers that waited for it fail, and so does every later caller,
// although the next fsync would succeed — after a failed fsync the kernel may have dropped the
// pages it could not write, and a later fsync proves nothing about them.
func TestWALSyncerFailedSyncIsSticky(t *testing.T) {
	w := newWALSyncer(t.TempDir() + "/db")
	fail := true
	w.syncFile = func(string) error {
		if fail {
			return errors.New("disk on fire")
		}
		return nil
	}
	if err := w.Sync(); err == nil || !errors.Is(err, ErrBroken) {
		t.Fatalf("Sync = %v, want the failure wrapping ErrBroken", err)
	}
	select {
	case <-w.broken:
	default:
		t.Fatal("broken is not closed after a failed sync")
	}
	fail = false
	for i := 0; i < 3; i++ {
		if err := w.Sync(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("a later sync after the failure: %v, want the first failure", err)
		}
	}
	if err := w.waitDurable(); err == nil {
		t.Fatal("waitDurable succeeded on a broken syncer")
	}
}

// waitDurable waits for the commits begun before the call — also one still being committed —
// and for a sync that started after they ended, and no longer.
func TestWALSyncerWaitDurable(t *testing.T) {
	w := newWALSyncer(t.TempDir() + "/db")
	var mu sync.Mutex
	var synced []uint64 // the committed number each sync started with
	w.syncFile = func(string) error {
		mu.Lock()
		synced = append(synced, w.committed) // read under the syncer's lock by syncLocked's caller
		mu.Unlock()
		return nil
	}
	if err := w.waitDurable(); err != nil { // nothing begun: no sync needed
		t.Fatal(err)
	}
	if len(synced) != 0 {
		t.Fatalf("%d syncs without any commit", len(synced))
	}
	n := w.BeginCommit()
	done := make(chan error, 1)
	go func() { done <- w.waitDurable() }()
	select {
	case err := <-done:
		t.Fatalf("waitDurable returned (%v) while commit %d was still being made", err, n)
	case <-time.After(50 * time.Millisecond):
	}
	w.EndCommit(n)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(synced) != 1 {
		t.Fatalf("%d syncs, want 1", len(synced))
	}
	if err := w.waitDurable(); err != nil || len(synced) != 1 {
		t.Fatalf("a second wait with nothing new: %v, %d syncs", err, len(synced))
	}
}

// A missing WAL file means everything is in the (synced) database file.
func TestWALSyncerWithoutWAL(t *testing.T) {
	if err := newWALSyncer(t.TempDir() + "/db").Sync(); err != nil {
		t.Fatal(err)
	}
}
