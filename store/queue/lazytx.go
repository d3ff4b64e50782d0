package queue

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// LazyBeginner is the watermill-sql Beginner for SQLite subscribers: its transactions begin lazily.
type LazyBeginner struct {
	DB *stdsql.DB
	// WriteLock, if set, is held from a transaction's first write to its end: the store's one
	// writer at a time, queued in the process instead of in SQLite's sleeping busy handler.
	WriteLock sync.Locker
	// Durable, if set, makes a commit durable after the fact: Commit numbers the commit under
	// the write lock and syncs after releasing it, so the writers behind it need not wait for
	// the disk.
	Durable Syncer
	// Check, if set, is asked before a transaction's first write; its error refuses the write
	// (a broken store).
	Check func() error
	// Batch, if set, lets transactions share real ones (Batcher): it then holds the write
	// lock and numbers durable commits, and WriteLock is not used.
	Batch *Batcher
}

// Syncer makes commits durable after the fact (the SQLite store's WAL syncer).
type Syncer interface {
	// BeginCommit and EndCommit bracket a commit, under the write lock: readers can wait until
	// every commit begun so far is durable before they act on what they read.
	BeginCommit() uint64
	EndCommit(n uint64)
	// Sync returns once every commit that ended before the call is on disk.
	Sync() error
}

var _ wmsql.Beginner = LazyBeginner{}

// BeginTx returns a transaction that opens the real one at its first write.
func (b LazyBeginner) BeginTx(ctx context.Context, _ *stdsql.TxOptions) (wmsql.Tx, error) {
	return &LazyTx{db: b.DB, ctx: ctx, lock: b.WriteLock, durable: b.Durable, check: b.Check, batcher: b.Batch}, nil
}

// ExecContext runs a statement outside any transaction.
func (b LazyBeginner) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	return b.DB.ExecContext(ctx, query, args...)
}

// QueryContext runs a query outside any transaction.
func (b LazyBeginner) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	return b.DB.QueryContext(ctx, query, args...)
}

// LazyTx reads through the pool until its first write, then runs everything in one real
// transaction (BEGIN IMMEDIATE through the DSN's _txlock) that Commit ends.
//
// Commit commits only if the subscriber acked the message in it: watermill-sql also "commits"
// when it discards a message on shutdown while the handler may still be writing, and a
// handler's half-done writes must never be committed without their ack. Once ended, the
// transaction refuses further writes, so a late handler cannot leave a write lock behind.
type LazyTx struct {
	mu      sync.Mutex
	db      *stdsql.DB
	lock    sync.Locker
	durable Syncer
	check   func() error
	ctx     context.Context
	tx      *stdsql.Tx
	acked   bool
	ended   bool
	// batcher shares real transactions; in is the batch this one writes in (tx is its).
	batcher *Batcher
	in      *batch
	// releases end the in-memory claims of the messages read (Claims).
	releases []func()
	// expected: the batcher counts this transaction as one that holds a message and will write
	// (Batcher.expect), until it joins a batch or ends.
	expected bool
}

// errEnded is returned to a handler that writes after its message was discarded.
var errEnded = errors.New("the queue transaction has ended (the message was discarded, e.g. on shutdown)")

func (t *LazyTx) begin() error {
	if t.tx != nil {
		return nil
	}
	if t.check != nil {
		if err := t.check(); err != nil {
			return err
		}
	}
	if t.batcher != nil {
		bt, err := t.batcher.join(t.expected)
		t.expected = false
		if err != nil {
			return err
		}
		t.in, t.tx = bt, bt.tx
		return nil
	}
	if t.lock != nil {
		t.lock.Lock()
	}
	tx, err := t.db.BeginTx(t.ctx, nil)
	if err != nil {
		t.unlock()
		return fmt.Errorf("begin transaction: %w", err)
	}
	t.tx = tx
	return nil
}

// ExecContext begins the real transaction if needed and runs the statement in it.
func (t *LazyTx) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, errEnded
	}
	if err := t.begin(); err != nil {
		return nil, err
	}
	if strings.HasPrefix(query, ackMarker) {
		t.acked = true
	}
	return t.tx.ExecContext(t.stmtContext(ctx), query, args...)
}

// QueryContext reads inside the transaction once it has begun, else through the pool. The
// subscriber's read of the next message claims the message it returns (Claims).
func (t *LazyTx) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, errEnded
	}
	if t.tx != nil {
		return t.tx.QueryContext(t.stmtContext(ctx), query, args...)
	}
	if i := claimArg(args); i >= 0 {
		row, release, err := claim(ctx, t.db, query, args, i)
		if err != nil {
			return nil, err
		}
		if release != nil {
			t.releases = append(t.releases, release)
			if t.batcher != nil && !t.expected {
				t.batcher.expect()
				t.expected = true
			}
		}
		return row, nil
	}
	return t.db.QueryContext(ctx, query, args...)
}

// Commit commits the writes together with the ack; without an ack it rolls them back.
func (t *LazyTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ended = true
	if t.tx == nil {
		t.release()
		return nil
	}
	if t.in != nil {
		return t.commitBatch()
	}
	tx, acked := t.tx, t.acked
	t.tx, t.acked = nil, false
	if !acked {
		err := tx.Rollback()
		t.unlock()
		t.release()
		if err != nil && !errors.Is(err, stdsql.ErrTxDone) {
			return err
		}
		return nil
	}
	if t.durable == nil {
		err := tx.Commit()
		t.unlock()
		t.release() // after the commit: the acked row is gone for every later read
		return err
	}
	n := t.durable.BeginCommit()
	err := tx.Commit()
	t.durable.EndCommit(n)
	t.unlock()
	t.release()
	if err != nil {
		return err
	}
	return t.durable.Sync()
}

// commitBatch is Commit in a shared transaction: the writes are committed with the batch, or
// discarded without an ack.
func (t *LazyTx) commitBatch() error {
	bt, acked := t.in, t.acked
	t.in, t.tx, t.acked = nil, nil, false
	defer t.release() // after the batch's commit: the acked row is gone for every later read
	if !acked {
		return t.batcher.undo(bt)
	}
	if err := t.batcher.commit(bt, t.durable != nil); err != nil {
		return err
	}
	if t.durable != nil {
		return t.durable.Sync()
	}
	return nil
}

// stmtContext is the context a statement runs with: in a shared transaction, without ctx's
// cancellation, because SQLite rolls back the whole transaction when a statement in it is
// interrupted — the other members' writes too.
func (t *LazyTx) stmtContext(ctx context.Context) context.Context {
	if t.in != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// release ends the transaction's claims.
func (t *LazyTx) release() {
	for _, r := range t.releases {
		r()
	}
	t.releases = nil
	if t.expected {
		t.batcher.unexpect()
		t.expected = false
	}
}

// Rollback discards the writes, if any, and ends the claims: the subscriber rolls back when it
// gives up on the message (the row is there to be read again).
func (t *LazyTx) Rollback() error {
	err := t.Undo()
	t.mu.Lock()
	t.release()
	t.mu.Unlock()
	return err
}

// Undo discards the handler's writes; the message stays claimed and the LazyTx usable: a
// handler that failed half-way is undone, and when the subscriber hands it the message again
// it starts clean.
func (t *LazyTx) Undo() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acked = false
	if t.in != nil {
		bt := t.in
		t.in, t.tx = nil, nil
		return t.batcher.undo(bt)
	}
	if t.tx == nil {
		return nil
	}
	err := t.tx.Rollback()
	t.tx = nil
	t.unlock()
	if errors.Is(err, stdsql.ErrTxDone) {
		return nil
	}
	return err
}

func (t *LazyTx) unlock() {
	if t.lock != nil {
		t.lock.Unlock()
	}
}
