package store

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrBroken is returned by every write after a sync of the write-ahead log failed: the store is
// broken until it is reopened.
var ErrBroken = errors.New("the store is broken: a sync to disk failed, so commits may be lost; restart amtsbote, and SQLite recovers from what reached the disk")

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
//
// A failed sync is final (as in PostgreSQL, which stops after a failed fsync): Linux may drop
// the dirty pages a failed fsync could not write and report the next fsync as successful, so
// no later sync can prove anything. Every later Sync fails, and the store refuses writes
// (Store.Broken) until it is reopened, which replays the WAL from what is on the disk.
type walSyncer struct {
	path string

	mu   sync.Mutex
	cond *sync.Cond
	// syncFile syncs one file; tests replace it (Store.InjectSyncFault).
	syncFile func(path string) error
	// started and completed count syncs; one runs at a time (running).
	started, completed uint64
	running            bool
	// failedErr is the first sync's failure; broken is closed then.
	failedErr error
	broken    chan struct{}

	// Commit sequence numbers: a durable commit takes the next number in begun before it
	// commits and sets committed to it after; both happen under the store's write lock, so
	// commits end in the order of their numbers. A sync that starts when committed is n makes
	// every commit up to n durable: durable is then n. (WaitDurable)
	begun, committed, durable uint64
}

func newWALSyncer(dbPath string) *walSyncer {
	w := &walSyncer{path: dbPath + "-wal", syncFile: fsyncPath, broken: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Sync returns once a sync of the WAL that started after the call has completed: every commit
// that returned before the call is then on disk.
func (w *walSyncer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	need := w.started + 1 // a sync running now may have missed this caller's commit
	return w.syncLocked(func() bool { return w.completed >= need }, nil)
}

// syncLocked runs or waits for syncs until done reports true or a sync fails; while ready
// reports false (nil: always ready) it waits instead of starting a sync.
func (w *walSyncer) syncLocked(done, ready func() bool) error {
	for w.failedErr == nil && !done() {
		if w.running || (ready != nil && !ready()) {
			w.cond.Wait()
			continue
		}
		w.running = true
		w.started++
		n, covers, syncFile := w.started, w.committed, w.syncFile
		w.mu.Unlock()
		err := syncFile(w.path)
		w.mu.Lock()
		w.running = false
		w.completed = n
		if err != nil && w.failedErr == nil {
			w.failedErr = err
			close(w.broken)
		}
		if err == nil {
			w.durable = max(w.durable, covers)
		}
		w.cond.Broadcast()
	}
	if w.failedErr != nil {
		return fmt.Errorf("sync the write-ahead log %s: %w (%w)", w.path, w.failedErr, ErrBroken)
	}
	return nil
}

// failed is the sticky failure, or nil.
func (w *walSyncer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failedErr != nil {
		return fmt.Errorf("sync the write-ahead log %s: %w (%w)", w.path, w.failedErr, ErrBroken)
	}
	return nil
}

// BeginCommit numbers a durable commit about to be made; the caller holds the write lock.
func (w *walSyncer) BeginCommit() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.begun++
	return w.begun
}

// EndCommit records that commit n has ended (committed or not); the caller holds the write lock.
func (w *walSyncer) EndCommit(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.committed = max(w.committed, n)
	w.cond.Broadcast()
}

// waitDurable returns once every durable commit that had begun at the call is on disk: a row a
// caller read before the call was committed by one of them (or by a commit that synced itself).
func (w *walSyncer) waitDurable() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.begun
	// A sync covers only the commits that ended before it started: wait for the last of them.
	return w.syncLocked(func() bool { return w.durable >= target }, func() bool { return w.committed >= target })
}

// fsyncPath syncs the file at path; a file that does not exist is nothing to sync. The file is
// opened with open(2) rather than os.Open, which would register it with the poller and switch
// its mode back and forth: five system calls more per sync of the WAL.
func fsyncPath(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &os.PathError{Op: "sync", Path: path, Err: err}
	}
	return nil
}

// Sync returns once every commit that ended before the call is on disk (SQLite's relaxed pool;
// PostgreSQL commits durably): a row the caller could read was committed before, so it is then
// durable.
func (s *Store) Sync() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.Sync()
}
