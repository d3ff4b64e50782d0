package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/mattn/go-sqlite3"

	"github.com/amtsbote/amtsbote/store/queue"
)

// ErrNotFound is returned when a submission, message or delivery does not exist.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned when another amtsbote process already uses the data directory.
var ErrLocked = errors.New("data directory is in use by another amtsbote process")

// Execer runs a write statement: a transaction of intake, a pipeline stage's transaction, or a
// plain connection. Statements use $1, $2, … placeholders, which both backends understand
// (SQLite numbers them by first appearance, so they are written in order).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error)
}

// Backends.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options selects and tunes the backend.
type Options struct {
	Driver  string // sqlite (default) or postgres
	DataDir string // sqlite: the directory of the database file
	DSN     string // postgres: the connection string
	// MaxConns bounds the PostgreSQL connections of this process (0: 32).
	MaxConns int
}

// Store is the database of submissions, messages, deliveries and queues: an embedded SQLite
// file, or a PostgreSQL database that several instances share.
type Store struct {
	// DB is shared with the watermill queues that live in the same database.
	DB     *sql.DB
	Driver string
	// relaxed is SQLite's second pool, whose commits do not wait for the disk.
	relaxed                          *sql.DB
	stopCheckpoints, checkpointsDone chan struct{}
	// Path is the SQLite file, or the PostgreSQL server as host:port/database.
	Path string
	lock *os.File
	// writeMu lets one SQLite write transaction run at a time, queued here rather than in
	// SQLite's busy handler, which sleeps (up to 100 ms a try) while it waits for the lock.
	writeMu sync.Mutex
	// checkpointMu lets one WAL checkpoint run at a time (the background ones, ForgetFreed's):
	// SQLite refuses a second checkpoint at once with SQLITE_BUSY, without waiting. Taken
	// before writeMu.
	checkpointMu sync.Mutex
	group        group
	// wal syncs SQLite's write-ahead log for the relaxed pool's durable commits (walSyncer).
	wal *walSyncer
	// claims are the SQLite queue messages this process is handling (queue.Claims).
	claims *queue.Claims
	// batcher lets the SQLite queue transactions share real ones (queue.Batcher).
	batcher *queue.Batcher
}

// sqliteDriver is SQLite without automatic checkpoints: the commit that crosses the WAL's size
// threshold would otherwise copy the WAL into the database file (and sync it) while intake waits
// for it. The exclusive store checkpoints in the background instead (checkpoints).
const sqliteDriver = "sqlite3-amtsbote"

// sqliteWriterDriver is sqliteDriver for the relaxed pool, the one that runs the shared
// transactions, keeping their journals in memory (temp_store = MEMORY).
//
// Every member of a shared transaction (group commit at intake, queue.Batcher in the pipeline)
// writes after its own savepoint, and SQLite copies each page it changes for the first time
// since that savepoint into the transaction's sub-journal, so that a member can be rolled back
// alone. Past 64 KiB that journal moved to a file in /var/tmp and stayed there until the
// transaction ended: 45 write calls per submission to a file nobody reads back, more than the
// write-ahead log got, on the single writer's path. (Raising SQLite's spill threshold instead,
// with SQLITE_CONFIG_STMTJRNL_SPILL, makes the later spill fail with SQLITE_FULL.) In memory,
// a member's copies are dropped when its savepoint is released: the journal holds the pages
// of one member at a time, at most those a submission of the largest accepted size rewrites.
// The pool runs no sorts or temporary tables of any size; the console, retention and the
// tools use the other pool, whose temporary data still goes to files.
const sqliteWriterDriver = "sqlite3-amtsbote-writer"

func init() {
	registerSQLite(sqliteDriver, `PRAGMA wal_autocheckpoint = 0`)
	registerSQLite(sqliteWriterDriver, `PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY`)
}

// registerSQLite registers SQLite under name, running pragmas on every new connection.
func registerSQLite(name, pragmas string) {
	sql.Register(name, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(pragmas, nil)
		return err
	}})
}

// FileName is the SQLite file inside the data directory.
const FileName = "amtsbote.db"

// Open opens (and creates or migrates) the SQLite store in dataDir. Only one process may use a
// data directory at a time; a second one gets ErrLocked.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	return OpenWith(ctx, Options{Driver: SQLite, DataDir: dataDir})
}

// OpenWith opens (and creates or migrates) the store the options select.
func OpenWith(ctx context.Context, o Options) (*Store, error) {
	s, err := open(ctx, o, true)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare %s: %w", s.Path, err)
	}
	return s, nil
}

// OpenShared opens a store that a running daemon may be using, for tools (dead letters,
// replay). It takes no lock and does not migrate: SQLite serialises the writes, PostgreSQL is
// shared anyway, and a store the daemon has not yet migrated is refused.
func OpenShared(ctx context.Context, o Options) (*Store, error) {
	if o.Driver == SQLite || o.Driver == "" {
		if _, err := os.Stat(filepath.Join(o.DataDir, FileName)); err != nil {
			return nil, fmt.Errorf("no store in %s (storage.data_dir): %w", o.DataDir, err)
		}
	}
	s, err := open(ctx, o, false)
	if err != nil {
		return nil, err
	}
	version, err := s.schemaVersion(ctx)
	if err != nil || version != len(s.migrations()) {
		s.Close()
		return nil, fmt.Errorf("%s has schema version %d, this amtsbote expects %d: start amtsbote serve once to migrate it",
			s.Path, version, len(s.migrations()))
	}
	return s, nil
}

// open connects to the backend; exclusive SQLite stores lock their data directory.
func open(ctx context.Context, o Options, exclusive bool) (*Store, error) {
	switch o.Driver {
	case SQLite, "":
		return openSQLite(o.DataDir, exclusive)
	case Postgres:
		return openPostgres(ctx, o)
	}
	return nil, fmt.Errorf("unknown storage driver %q (expected sqlite or postgres)", o.Driver)
}

func openSQLite(dataDir string, exclusive bool) (*Store, error) {
	var lock *os.File
	if exclusive {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		var err error
		if lock, err = lockDir(dataDir); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(dataDir, FileName)
	// _txlock=immediate: every transaction takes the write lock at BEGIN, so two writers never
	// deadlock on a lock upgrade; _sync=FULL: a commit is on disk before intake answers 202.
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_journal_mode", "WAL")
	q.Set("_sync", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_fk", "1")
	// Deleted and overwritten content is zeroed (also in the pages freed): personal data purged
	// by retention must not stay readable in the file or in copies of it (see Purge).
	q.Set("_secure_delete", "on")
	// Prepared statements are kept per connection: preparing the same queue and store queries
	// again for every call cost an eighth of the daemon's CPU under load.
	q.Set("_stmt_cache_size", "128")
	driver := "sqlite3" // tools sharing the file leave checkpoints to SQLite
	if exclusive {
		driver = sqliteDriver
	}
	db, err := sql.Open(driver, "file:"+path+"?"+q.Encode())
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	// The relaxed pool commits without waiting for the disk (synchronous=NORMAL): for pipeline
	// stages whose work is idempotent, see Queues, and for intake and mapping, which sync the WAL
	// after releasing the write lock (walSyncer). A crash of the process loses nothing (WAL); a
	// power loss may undo the last commits that were not synced.
	q.Set("_sync", "NORMAL")
	if exclusive {
		driver = sqliteWriterDriver
	}
	relaxed, err := sql.Open(driver, "file:"+path+"?"+q.Encode())
	if err != nil {
		db.Close()
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	relaxed.SetMaxOpenConns(16)
	relaxed.SetMaxIdleConns(16)
	s := &Store{DB: db, relaxed: relaxed, Driver: SQLite, Path: path, lock: lock, wal: newWALSyncer(path), claims: queue.NewClaims()}
	// The pipeline's handlers that write at about the same time commit together (queue.Batcher).
	s.batcher = queue.NewBatcher(relaxed, &s.writeMu, s.wal, queueBatchSize)
	s.batcher.SetCommitDelay(queueCommitDelay)
	if exclusive {
		s.stopCheckpoints = make(chan struct{})
		s.checkpointsDone = make(chan struct{})
		go s.checkpoints()
	}
	return s, nil
}

// checkpoints copies the WAL into the database file in the background until the store closes,
// and keeps the WAL small.
//
// A checkpoint that runs beside the writers never catches up with them: the WAL is only
// started over from its beginning by a write that finds every frame copied, so under steady
// load it grew without end (1 GB in 40 s), and every read searched an ever larger WAL index
// (a queue read took 200 µs). So once the WAL is large, the copying without blocking anyone is
// repeated until little is left, and the rest is copied while holding the write lock, after
// which the next write starts the WAL over.
func (s *Store) checkpoints() {
	defer close(s.checkpointsDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stopCheckpoints:
			return
		case <-t.C:
			s.checkpoint()
		}
	}
}

const (
	// restartFrames is the WAL size (in pages) from which a checkpoint makes the WAL start over.
	restartFrames = 4096
	// lockedFrames is how many pages at most are left for the pass under the write lock.
	lockedFrames = 512
)

func (s *Store) checkpoint() {
	if s.wal.failed() != nil {
		return // a broken store copies nothing more into the database file
	}
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	for pass := 0; pass < 4; pass++ {
		var busy, frames, copied int
		err := s.relaxed.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if err != nil || frames < restartFrames {
			return
		}
		if frames-copied <= lockedFrames {
			break
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, _ = s.relaxed.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
}

func openPostgres(ctx context.Context, o Options) (*Store, error) {
	if o.DSN == "" {
		return nil, errors.New("storage.dsn is empty: the postgres driver needs a connection string (AMTSBOTE_STORAGE_DSN)")
	}
	db, err := sql.Open("pgx", o.DSN)
	if err != nil {
		return nil, fmt.Errorf("storage.dsn: %w", err)
	}
	maxConns := o.MaxConns
	if maxConns <= 0 {
		maxConns = 32
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	where := redactDSN(o.DSN)
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL %s: %w", where, err)
	}
	return &Store{DB: db, Driver: Postgres, Path: where}, nil
}

// redactDSN names the server and database of a connection string without its password.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		return u.Host + u.Path
	}
	return "(storage.dsn)"
}

func lockDir(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "amtsbote.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", dataDir, ErrLocked)
	}
	return f, nil
}

// Close closes the database and releases the data directory.
func (s *Store) Close() error {
	s.group.once.Do(func() {}) // no committer starts after Close
	s.stopGroup()
	if s.stopCheckpoints != nil {
		close(s.stopCheckpoints)
		<-s.checkpointsDone
		if s.Broken() == nil {
			_, _ = s.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		}
	}
	err := s.DB.Close()
	if s.relaxed != nil {
		s.relaxed.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// Shared tells whether other processes may work on the same store at the same time.
func (s *Store) Shared() bool { return s.Driver == Postgres }

// Broken returns ErrBroken (wrapped with its cause) once a sync to disk has failed: from then
// on the store refuses writes until it is reopened. nil while the store is healthy.
func (s *Store) Broken() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.failed()
}

// BrokenC is closed when the store breaks (Broken); nil for a store that cannot break this way.
func (s *Store) BrokenC() <-chan struct{} {
	if s.wal == nil {
		return nil
	}
	return s.wal.broken
}

// InjectSyncFault makes every later sync of the write-ahead log call fault first; its error
// fails the sync as a failing disk would. For tests of the durability guarantees (SQLite only).
func (s *Store) InjectSyncFault(fault func() error) {
	if s.wal == nil {
		return
	}
	s.wal.mu.Lock()
	defer s.wal.mu.Unlock()
	s.wal.syncFile = func(path string) error {
		if err := fault(); err != nil {
			return err
		}
		return fsyncPath(path)
	}
}

// WaitDurable returns once every durable commit begun before the call is on disk, so that what
// the caller read is durable: a delivery acts on a mapping (its ProzessID) only once the commit
// that created it cannot be undone by a power loss. PostgreSQL commits durably: nothing to wait
// for.
func (s *Store) WaitDurable() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.waitDurable()
}

// InTx runs fn in one transaction and commits it.
func (s *Store) InTx(ctx context.Context, fn func(tx wmsql.Tx) error) (err error) {
	if err := s.Broken(); err != nil {
		return err
	}
	if s.Driver == SQLite {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	sqlTx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := wmsql.TxFromStdSQL(sqlTx)
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Queues is what a watermill-sql subscriber needs to consume this store's queues.
//
// Beginner's transactions are durable when they commit. RelaxedBeginner's commit without
// waiting for the disk (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off): a process
// crash loses nothing, a power or database server crash may undo the last few, whose messages
// are then handled again. That is for stages whose effects are idempotent — delivering a stored
// message with its ProzessID, telling a portal a status — and saves a disk sync per message.
// Intake and mapping (which creates message ids) stay durable.
func (s *Store) Queues(now func() time.Time) queue.Backend {
	if s.Driver == Postgres {
		return queue.Backend{Schema: queue.NewPostgresSchema(now), Offsets: queue.PostgresOffsets{},
			Beginner: queue.PostgresBeginner{DB: s.DB}, RelaxedBeginner: queue.PostgresBeginner{DB: s.DB, Relaxed: true}}
	}
	relaxed := s.relaxed
	if relaxed == nil {
		relaxed = s.DB
	}
	durable := queue.LazyBeginner{DB: s.DB, WriteLock: &s.writeMu, Check: s.Broken}
	lax := queue.LazyBeginner{DB: relaxed, WriteLock: &s.writeMu, Check: s.Broken}
	if s.relaxed != nil && s.wal != nil {
		// Committed without a sync under the write lock, then synced outside it (walSyncer);
		// handlers writing at about the same time share one transaction (queue.Batcher), the
		// durable ones syncing after it.
		durable = queue.LazyBeginner{DB: s.relaxed, Durable: s.wal, Check: s.Broken, Batch: s.batcher}
		lax = queue.LazyBeginner{DB: s.relaxed, Check: s.Broken, Batch: s.batcher}
	}
	return queue.Backend{Schema: queue.SQLiteSchema{Now: now, Claims: s.claims}, Offsets: queue.SQLiteOffsets{},
		Beginner: durable, RelaxedBeginner: lax}
}

// queueBatchSize bounds how many queue transactions share one SQLite transaction: the batch
// holds the write lock from its first member's first write to its commit, and writers that
// join it go before intake waiting for the lock. Under the demo's load batches hold 2–10.
const queueBatchSize = 16

// queueCommitDelay is how long the last member of a batch waits for a handler that holds a
// message to join it (queue.Batcher.SetCommitDelay). Every commit writes the pages its members
// share (queue tables and their indexes, the status indexes, the events') to the write-ahead
// log; members that would commit a moment later add their rows to the same pages instead.
// Under the demo's load this writes 12–15 % fewer bytes per submission for at most 0.3 ms more per
// commit (docs/benchmarks.md, "A commit waits for its siblings").
const queueCommitDelay = 300 * time.Microsecond

// Exclusive runs fn unless another instance runs the job of the same name right now, and
// reports whether it ran. On PostgreSQL a session advisory lock keyed by the name makes
// scheduled jobs (receipts polling, retention) run on one instance at a time; a single SQLite
// process runs fn at once.
func (s *Store) Exclusive(ctx context.Context, job string, fn func() error) (bool, error) {
	if s.Driver != Postgres {
		return true, fn()
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("job %s: %w", job, err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, int32(jobLockSpace), job).Scan(&got); err != nil {
		return false, fmt.Errorf("job %s: %w", job, err)
	}
	if !got {
		return false, nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, int32(jobLockSpace), job)
	return true, fn()
}

// jobLockSpace is the first key of the advisory locks of scheduled jobs ("amts").
const jobLockSpace = 0x616d7473
