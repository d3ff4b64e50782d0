package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// openWAL opens a plain SQLite pool on path in WAL mode (through the process's default VFS,
// walbuf).
func openWAL(t *testing.T, path string, conns int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate&_sync=NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { db.Close() })
	return db
}

func integrityOK(t *testing.T, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q, %v", res, err)
	}
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWALBufferWritesACommitOnce checks that a commit's frames reach the log in one write, and
// that every commit is visible to another connection, and in the file, when it returns.
func TestWALBufferWritesACommitOnce(t *testing.T) {
	tests := []struct {
		name        string
		rowsPerTx   int
		payload     int
		wantFrames  int // at least this many frames (header and page: two writes each) per commit
		maxWritesTx int // at most this many writes made per commit
	}{
		{"one small row", 1, 100, 1, 1},
		{"ten pages", 10, 3000, 10, 1},
		{"larger than the buffer", 200, 4000, 150, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.db")
			w := openWAL(t, path, 1)
			r := openWAL(t, path, 1)
			if _, err := w.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
				t.Fatal(err)
			}
			const commits = 20
			asked0, made0, mapped0 := walbufCounts()
			for i := 0; i < commits; i++ {
				tx, err := w.Begin()
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < tc.rowsPerTx; j++ {
					if _, err := tx.Exec(`INSERT INTO t (v) VALUES (randomblob(?))`, tc.payload); err != nil {
						t.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				if got := count(t, r, `SELECT count(*) FROM t`); got != (i+1)*tc.rowsPerTx {
					t.Fatalf("after commit %d another connection sees %d rows, want %d", i+1, got, (i+1)*tc.rowsPerTx)
				}
			}
			asked, made, mapped := walbufCounts()
			asked, made, mapped = asked-asked0, made-made0, mapped-mapped0
			// Other tests in the package may write at the same time; this one's writes dominate.
			if asked < int64(commits*2*tc.wantFrames) {
				t.Errorf("SQLite asked for %d writes to the log for %d commits, want at least %d", asked, commits, commits*2*tc.wantFrames)
			}
			if made > int64(commits*tc.maxWritesTx) {
				t.Errorf("%d writes made for %d commits (%d asked), want at most %d", made, commits, asked, commits*tc.maxWritesTx)
			}
			// r read the new rows' pages from the log after every commit.
			if mapped < commits {
				t.Errorf("%d reads of the log from its mapping for %d commits, want at least %d", mapped, commits, commits)
			}
			integrityOK(t, r)
			w.Close()
			r.Close()
			again := openWAL(t, path, 1)
			if got := count(t, again, `SELECT count(*) FROM t`); got != commits*tc.rowsPerTx {
				t.Fatalf("reopened: %d rows, want %d", got, commits*tc.rowsPerTx)
			}
			integrityOK(t, again)
		})
	}
}

// TestWALBufferRolledBackFramesDoNotOverwrite: a transaction that spilled pages into the log
// and rolled back leaves frames past the log's end; the next writer, on another connection,
// writes at the same offsets. The first connection's writes must be in the file before that,
// or they would overwrite the committed frames later.
func TestWALBufferRolledBackFramesDoNotOverwrite(t *testing.T) {
	for _, rounds := range []int{1, 5} {
		t.Run(fmt.Sprintf("rounds=%d", rounds), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.db")
			a := openWAL(t, path, 1)
			b := openWAL(t, path, 1)
			if _, err := a.Exec(`PRAGMA cache_size = 5; CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, v BLOB)`); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < rounds; i++ {
				tx, err := a.Begin()
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < 60; j++ { // about 60 pages with a cache of 5: they spill
					if _, err := tx.Exec(`INSERT INTO t (who, v) VALUES ('a', randomblob(3000))`); err != nil {
						t.Fatal(err)
					}
				}
				if err := tx.Rollback(); err != nil {
					t.Fatal(err)
				}
				// b's transaction is larger than a's, so its frames cover all of a's.
				if _, err := b.Exec(`INSERT INTO t (who, v) SELECT 'b', randomblob(3000) FROM json_each(?)`, "["+strings.Repeat("0,", 99)+"0]"); err != nil {
					t.Fatal(err)
				}
				// a reads, locks and writes again: anything it still held would go out now.
				if got := count(t, a, `SELECT count(*) FROM t WHERE who = 'b'`); got != 100*(i+1) {
					t.Fatalf("a sees %d rows of b, want %d", got, 100*(i+1))
				}
				integrityOK(t, a)
			}
			a.Close()
			b.Close()
			again := openWAL(t, path, 1)
			if got := count(t, again, `SELECT count(*) FROM t WHERE who = 'b'`); got != 100*rounds {
				t.Fatalf("reopened: %d rows of b, want %d", got, 100*rounds)
			}
			if got := count(t, again, `SELECT count(*) FROM t WHERE who = 'a'`); got != 0 {
				t.Fatalf("reopened: %d rows of the rolled-back transactions", got)
			}
			integrityOK(t, again)
		})
	}
}

// TestWALBufferConcurrentWritersAndReaders: several connections write and read the same file
// at once, with checkpoints; every committed row is there afterwards and the file is sound.
func TestWALBufferConcurrentWritersAndReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	db := openWAL(t, path, 8)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, writer INTEGER, n INTEGER, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	const writers, commits = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; n < commits; n++ {
				tx, err := db.Begin()
				if err != nil {
					errs <- err
					return
				}
				for k := 0; k < 1+n%4; k++ {
					if _, err := tx.Exec(`INSERT INTO t (writer, n, v) VALUES (?, ?, randomblob(?))`, w, n, 200+n*20); err != nil {
						tx.Rollback()
						errs <- err
						return
					}
				}
				if n%7 == 0 {
					tx.Rollback()
					continue
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		last := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
				errs <- err
				return
			}
			if n < last {
				errs <- fmt.Errorf("row count went back from %d to %d", last, n)
				return
			}
			last = n
			if i%20 == 0 {
				mode := "PASSIVE"
				if i%60 == 0 { // truncates the log when no reader is in it: later reads map a regrown file
					mode = "TRUNCATE"
				}
				if _, err := db.Exec(`PRAGMA wal_checkpoint(` + mode + `)`); err != nil && !strings.Contains(err.Error(), "locked") {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := 0
	for n := 0; n < commits; n++ {
		if n%7 != 0 {
			want += 1 + n%4
		}
	}
	want *= writers
	db.Close()
	again := openWAL(t, path, 1)
	if got := count(t, again, `SELECT count(*) FROM t`); got != want {
		t.Fatalf("reopened: %d rows, want %d", got, want)
	}
	integrityOK(t, again)
}
