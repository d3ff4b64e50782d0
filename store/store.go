package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	_ "github.com/mattn/go-sqlite3" // SQLite driver (cgo)
)

// ErrNotFound is returned when a submission, message or delivery does not exist.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned when another amtsbote process already uses the data directory.
var ErrLocked = errors.New("data directory is in use by another amtsbote process")

// Execer runs a write statement: a transaction of intake, a pipeline stage's transaction, or a
// plain connection.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error)
}

// Store is the embedded SQLite store.
type Store struct {
	// DB is shared with the watermill queues that live in the same file.
	DB   *sql.DB
	Path string
	lock *os.File
}

// FileName is the SQLite file inside the data directory.
const FileName = "amtsbote.db"

// Open opens (and creates or migrates) the store in dataDir. Only one process may use a data
// directory at a time; a second one gets ErrLocked.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
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
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	s := &Store{DB: db, Path: path, lock: lock}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare %s: %w", path, err)
	}
	return s, nil
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

// OpenShared opens the store of a data directory that a running daemon may be using, for tools
// (dead letters, replay). It takes no lock and does not migrate: SQLite serialises the writes,
// and a store the daemon has not yet migrated is refused.
func OpenShared(ctx context.Context, dataDir string) (*Store, error) {
	path := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store in %s (storage.data_dir): %w", dataDir, err)
	}
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_sync", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_fk", "1")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var version int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil || version != len(migrations) {
		db.Close()
		return nil, fmt.Errorf("%s has schema version %d, this amtsbote expects %d: start amtsbote serve once to migrate it", path, version, len(migrations))
	}
	return &Store{DB: db, Path: path}, nil
}

// Close closes the database and releases the data directory.
func (s *Store) Close() error {
	err := s.DB.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// InTx runs fn in one transaction and commits it.
func (s *Store) InTx(ctx context.Context, fn func(tx wmsql.Tx) error) (err error) {
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
