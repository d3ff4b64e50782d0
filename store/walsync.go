package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// walSyncer makes commits of SQLite's relaxed pool durable after the fact, outside the write
// lock.
//
// A commit with synchronous=NORMAL has written its frames to the WAL file (into the page cache)
// when it returns, but not synced them. The WAL is append-only and replayed in order after a
// power loss, so one fsync of the WAL file makes every commit before it durable — whichever
// connection wrote them. Committing with synchronous=FULL instead syncs inside COMMIT, while the
// store's one writer holds the write lock and every other writer waits for the disk. Here the
// writers go on while the WAL is synced, and callers waiting at the same time share one sync.
// A checkpoint syncs the WAL before it copies frames into the database file, and SQLite removes
// the WAL only after a complete, synced checkpoint, so the file at path is always the one to
// sync (when it does not exist, everything is in the synced database file).
type walSyncer struct {
	path string
	// syncFile syncs one file; tests replace it.
	syncFile func(path string) error

	mu   sync.Mutex
	cond *sync.Cond
	// started and completed count syncs; one runs at a time (running).
	started, completed uint64
	running            bool
	// failed is the last sync that failed, with its error: after a failed fsync the kernel may
	// have dropped the dirty pages, so a later successful sync proves nothing for the callers
	// that waited for it.
	failed    uint64
	failedErr error
}

func newWALSyncer(dbPath string) *walSyncer {
	w := &walSyncer{path: dbPath + "-wal", syncFile: fsyncPath}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Sync returns once a sync of the WAL that started after the call has completed: every commit
// that returned before the call is then on disk.
func (w *walSyncer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	need := w.started + 1 // a sync running now may have missed this caller's commit
	for w.completed < need {
		if w.running {
			w.cond.Wait()
			continue
		}
		w.running = true
		w.started++
		n := w.started
		w.mu.Unlock()
		err := w.syncFile(w.path)
		w.mu.Lock()
		w.running = false
		w.completed = n
		if err != nil {
			w.failed, w.failedErr = n, err
		}
		w.cond.Broadcast()
	}
	if w.failed >= need {
		return fmt.Errorf("sync the write-ahead log %s: %w", w.path, w.failedErr)
	}
	return nil
}

func fsyncPath(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// sync makes the relaxed pool's commits so far durable (SQLite; PostgreSQL commits durably).
func (s *Store) sync() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.Sync()
}
