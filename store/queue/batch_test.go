package queue

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	_ "github.com/mattn/go-sqlite3"
)

// countingSyncer counts the commits numbered for durability and the syncs asked for.
type countingSyncer struct{ begun, ended, syncs atomic.Int64 }

func (c *countingSyncer) BeginCommit() uint64 { return uint64(c.begun.Add(1)) }
func (c *countingSyncer) EndCommit(uint64)    { c.ended.Add(1) }
func (c *countingSyncer) Sync() error         { c.syncs.Add(1); return nil }

func batchDB(t *testing.T) *stdsql.DB {
	t.Helper()
	db, err := stdsql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "q.db")+"?_txlock=immediate&_journal_mode=WAL&_fk=1&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE t (v TEXT NOT NULL, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func values(t *testing.T, db *stdsql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query(`SELECT v FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var v string
		rows.Scan(&v)
		out[v] = true
	}
	return out
}

const ack = ackMarker + `DELETE FROM t WHERE v = 'no such row'`

// waitForWaiting waits until n transactions wait for their turn in the open batch.
func waitForWaiting(t *testing.T, b *Batcher, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		w := 0
		if b.cur != nil {
			w = b.cur.waiting
		}
		b.mu.Unlock()
		if w == n {
			return
		}
	}
	t.Fatalf("%d transactions never waited for their turn", n)
}

// Transactions that write while another writes join its batch: one commit for all, each
// member's writes kept or discarded on its own, the durable ones synced.
func TestBatchMembersCommitTogetherAndFailAlone(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		second    string // what the second member does: "commit", "discard" (no ack), "undo"
		want      []string
		commitErr bool
	}{
		{name: "all commit", second: "commit", want: []string{"a", "b", "c"}},
		{name: "one ends without an ack", second: "discard", want: []string{"a", "c"}},
		{name: "one is undone after a failed try", second: "undo", want: []string{"a", "c"}},
		{name: "one breaks the commit for all", second: "orphan", want: nil, commitErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := batchDB(t)
			var lock sync.Mutex
			sy := &countingSyncer{}
			b := NewBatcher(db, &lock, sy, 64)
			durable := LazyBeginner{DB: db, Durable: sy, Batch: b}
			relaxed := LazyBeginner{DB: db, Batch: b}
			begin := func(lb LazyBeginner) *LazyTx {
				tx, _ := lb.BeginTx(ctx, nil)
				return tx.(*LazyTx)
			}
			a := begin(durable)
			if _, err := a.ExecContext(ctx, `INSERT INTO t (v) VALUES ('a')`); err != nil {
				t.Fatal(err)
			}
			errs := make([]error, 3)
			var wg sync.WaitGroup
			member := func(i int, v, does string) {
				defer wg.Done()
				tx := begin(relaxed)
				stmt := `INSERT INTO t (v) VALUES ('` + v + `')`
				if does == "orphan" {
					stmt = `INSERT INTO t (v, parent) VALUES ('` + v + `', 42)` // fails at COMMIT only
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					errs[i] = err
					return
				}
				switch does {
				case "discard":
					errs[i] = tx.Commit()
				case "undo":
					if err := tx.Undo(); err != nil {
						errs[i] = err
						return
					}
					errs[i] = tx.Rollback()
				default:
					if _, err := tx.ExecContext(ctx, ack); err != nil {
						errs[i] = err
						return
					}
					errs[i] = tx.Commit()
				}
			}
			wg.Add(1)
			go member(1, "b", tt.second)
			waitForWaiting(t, b, 1)
			wg.Add(1)
			go member(2, "c", "commit")
			waitForWaiting(t, b, 2)
			if _, err := a.ExecContext(ctx, ack); err != nil {
				t.Fatal(err)
			}
			errs[0] = a.Commit()
			wg.Wait()

			for i, err := range errs {
				committing := i != 1 || tt.second == "commit" || tt.second == "orphan"
				if tt.commitErr && committing {
					if err == nil {
						t.Errorf("member %d: the batch's commit failed, but its Commit returned nil", i)
					}
				} else if err != nil {
					t.Errorf("member %d: %v", i, err)
				}
			}
			got := values(t, db)
			if len(got) != len(tt.want) {
				t.Errorf("stored %v, want %v", got, tt.want)
			}
			for _, v := range tt.want {
				if !got[v] {
					t.Errorf("stored %v, want %v", got, tt.want)
				}
			}
			if n := sy.begun.Load(); n != 1 {
				t.Errorf("%d durable commits numbered, want 1 (one shared transaction)", n)
			}
			if !tt.commitErr && sy.syncs.Load() != 1 {
				t.Errorf("%d syncs, want 1 (only the durable member syncs)", sy.syncs.Load())
			}
			if !lock.TryLock() {
				t.Fatal("the write lock is still held after the batch ended")
			}
			lock.Unlock()
		})
	}
}

// A transaction that writes alone commits at once, holding the write lock only while it writes.
func TestBatchOfOneHoldsTheLockWhileWriting(t *testing.T) {
	ctx := context.Background()
	db := batchDB(t)
	var lock sync.Mutex
	b := NewBatcher(db, &lock, nil, 64)
	tx, _ := LazyBeginner{DB: db, Batch: b}.BeginTx(ctx, nil)
	if _, err := tx.QueryContext(ctx, `SELECT count(*) FROM t`); err != nil {
		t.Fatal(err)
	}
	if !lock.TryLock() {
		t.Fatal("a read took the write lock")
	}
	lock.Unlock()
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	if lock.TryLock() {
		t.Fatal("a write does not hold the write lock")
	}
	if _, err := tx.ExecContext(ctx, ack); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !lock.TryLock() {
		t.Fatal("the write lock is held after the commit")
	}
	lock.Unlock()
	if got := values(t, db); !got["x"] || len(got) != 1 {
		t.Fatalf("stored %v", got)
	}
	// A write after the end is refused rather than left in a batch.
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ('late')`); err == nil {
		t.Fatal("a write after Commit was accepted")
	}
}

// Many transactions at once, each committing or being undone at random: exactly the committed
// ones are stored, however they were batched (run with -race).
func TestBatchUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	db := batchDB(t)
	db.SetMaxOpenConns(8)
	var lock sync.Mutex
	b := NewBatcher(db, &lock, &countingSyncer{}, 8)
	var committed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				tx, _ := LazyBeginner{DB: db, Batch: b}.BeginTx(ctx, nil)
				v := fmt.Sprintf("%d-%d", w, i)
				if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v); err != nil {
					t.Error(err)
					return
				}
				if rand.IntN(4) == 0 {
					if err := tx.Rollback(); err != nil {
						t.Error(err)
					}
					continue
				}
				if _, err := tx.ExecContext(ctx, ack); err != nil {
					t.Error(err)
					return
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					continue
				}
				committed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := len(values(t, db)); int64(got) != committed.Load() {
		t.Fatalf("%d rows stored, %d commits reported", got, committed.Load())
	}
}

// With a commit delay, a batch's last member waits for a transaction that holds a message
// (every handled message is acked with a write) to join it — and commits together with it —
// but not for nothing: not without such a transaction, not after it left without writing, and
// not longer than the delay.
func TestBatchCommitDelayWaitsForSiblings(t *testing.T) {
	const long = 10 * time.Second
	cases := []struct {
		name    string
		delay   time.Duration
		sibling string // none; joins: it writes and commits; leaves: rolls back; silent: holds on
		// the first member's commit takes at least minWait and at most maxWait
		minWait, maxWait time.Duration
	}{
		{"no delay", 0, "silent", 0, time.Second},
		{"nobody holds a message", long, "none", 0, time.Second},
		{"the sibling joins", long, "joins", 0, 5 * time.Second},
		{"the sibling leaves without writing", long, "leaves", 0, 5 * time.Second},
		{"the sibling keeps its message", 200 * time.Millisecond, "silent", 200 * time.Millisecond, 5 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db := batchDB(t)
			schema := SQLiteSchema{Claims: NewClaims()}
			queries, err := schema.SchemaInitializingQueries(wmsql.SchemaInitializingQueriesParams{Topic: "q"})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range queries {
				if _, err := db.Exec(q.Query); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(`INSERT INTO ` + Table("q") + ` (uuid, payload, metadata, not_before, created_at) VALUES ('m', 'p', '{}', 0, 0)`); err != nil {
				t.Fatal(err)
			}
			var lock sync.Mutex
			b := NewBatcher(db, &lock, nil, 8)
			b.SetCommitDelay(c.delay)
			beginner := LazyBeginner{DB: db, Batch: b}

			var sibling *LazyTx
			if c.sibling != "none" {
				tx, _ := beginner.BeginTx(ctx, nil)
				sibling = tx.(*LazyTx)
				sel, err := schema.SelectQuery(wmsql.SelectQueryParams{Topic: "q"})
				if err != nil {
					t.Fatal(err)
				}
				rows, err := sibling.QueryContext(ctx, sel.Query, sel.Args...)
				if err != nil {
					t.Fatal(err)
				}
				if !rows.Next() {
					t.Fatal("the sibling read no message")
				}
				rows.Close()
			}

			tx, _ := beginner.BeginTx(ctx, nil)
			first := tx.(*LazyTx)
			if _, err := first.ExecContext(ctx, `INSERT INTO t (v) VALUES ('first')`); err != nil {
				t.Fatal(err)
			}
			if _, err := first.ExecContext(ctx, ack); err != nil {
				t.Fatal(err)
			}
			firstBatch := first.in
			start := time.Now()
			committed := make(chan error, 1)
			go func() { committed <- first.Commit() }()

			var siblingBatch *batch
			switch c.sibling {
			case "joins", "leaves":
				select {
				case err := <-committed:
					t.Fatalf("the first member committed (%v) while a sibling held a message", err)
				case <-time.After(50 * time.Millisecond):
				}
				if c.sibling == "leaves" {
					if err := sibling.Rollback(); err != nil {
						t.Fatal(err)
					}
					break
				}
				if _, err := sibling.ExecContext(ctx, `INSERT INTO t (v) VALUES ('second')`); err != nil {
					t.Fatal(err)
				}
				siblingBatch = sibling.in
				if _, err := sibling.ExecContext(ctx, ackMarker+`DELETE FROM `+Table("q")); err != nil {
					t.Fatal(err)
				}
				if err := sibling.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-committed; err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if took < c.minWait || took > c.maxWait {
				t.Errorf("the first member's commit took %v, want %v to %v", took, c.minWait, c.maxWait)
			}
			if c.sibling == "joins" && siblingBatch != firstBatch {
				t.Error("the sibling committed in a batch of its own")
			}
			if c.sibling == "silent" {
				sibling.Rollback()
			}
			want := map[string]bool{"first": true}
			if c.sibling == "joins" {
				want["second"] = true
			}
			if got := values(t, db); len(got) != len(want) || !got["first"] || got["second"] != want["second"] {
				t.Errorf("stored %v, want %v", got, want)
			}
			b.mu.Lock()
			expected := b.expected
			b.mu.Unlock()
			if expected != 0 {
				t.Errorf("%d transactions still expected after all ended", expected)
			}
		})
	}
}
