package queue

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Batcher lets the queue transactions of one SQLite store share real transactions (group
// commit). A handler's writes and its ack still commit together or not at all, but several
// handlers that write at about the same time — the mapping of one submission, the deliveries
// of others — commit in one SQLite transaction: the pages they share (a queue table's, the
// events', the deliveries' index) are written to the write-ahead log once, not once per
// handler, and one commit replaces several.
//
// A shared transaction (a batch) holds the store's write lock from its BEGIN to its COMMIT.
// Its members write one after another, each after its own savepoint: a member that fails or is
// discarded rolls back to its savepoint and leaves nothing behind, without affecting the
// others. A member that commits releases its savepoint, passes the turn to the next member
// waiting, and waits for the batch's commit; the last member, finding nobody waiting, commits
// the batch for all. A member thus waits only for writers that were already waiting for the
// lock when it was done — the batch grows with the load and is a single transaction when
// handlers write one at a time.
//
// If the batch's commit fails, it fails for every member that committed in it: their messages
// stay in their queues (unacked) and are handled again, as after any failed commit.
//
// With a commit delay (SetCommitDelay), the last member does not end the batch at once while
// other handlers hold a message they are working on (every handled message is acked with a
// write, so each of them will write): it waits up to the delay for one of them to join, as
// PostgreSQL's commit_delay does while commit_siblings are active. The pages the members share
// are then written once for more of them (docs/benchmarks.md, "A commit waits for its
// siblings").
type Batcher struct {
	db      *stdsql.DB
	lock    sync.Locker
	durable Syncer // numbers the commits of batches with a durable member; may be nil
	max     int
	delay   time.Duration // how long the last member waits for an expected one; 0: not at all

	mu  sync.Mutex
	cur *batch // the batch new writers join; nil when none is open or it is full
	// expected counts the transactions that hold a message and have not joined a batch yet.
	expected int
}

// NewBatcher returns a Batcher for the store's pool db and its write lock; at most size
// transactions share one batch. durable, if set, numbers the commits of batches that hold a
// durable member's writes (LazyBeginner.Durable), which then syncs after the commit.
func NewBatcher(db *stdsql.DB, lock sync.Locker, durable Syncer, size int) *Batcher {
	return &Batcher{db: db, lock: lock, durable: durable, max: max(size, 1)}
}

// SetCommitDelay sets how long the last member of a batch waits for a transaction that holds a
// message to join it before the batch commits (0, the default: not at all). Call it before the
// Batcher is used.
func (b *Batcher) SetCommitDelay(d time.Duration) { b.delay = max(d, 0) }

// expect counts a transaction that holds a message and will write; join or unexpect ends that.
func (b *Batcher) expect() {
	b.mu.Lock()
	b.expected++
	b.mu.Unlock()
}

// unexpect ends an expect for a transaction that ends without joining a batch; a last member
// waiting for it stops waiting if it was the last one expected.
func (b *Batcher) unexpect() {
	b.mu.Lock()
	b.expected--
	if b.cur != nil {
		b.cur.wake()
	}
	b.mu.Unlock()
}

// batch is one shared transaction.
type batch struct {
	tx     *stdsql.Tx
	turn   chan struct{} // hands the right to write in tx from one member to the next
	done   chan struct{} // closed once the batch has committed or rolled back
	joined chan struct{} // a member joined or an expected one left (buffered; see awaitSibling)

	// guarded by Batcher.mu
	size      int   // members that joined
	waiting   int   // members waiting for their turn
	committed int   // members whose writes are to be committed
	durable   bool  // a member's commit must be made durable (Durable)
	failed    error // the batch can no longer commit: every member gets this error
	err       error // the outcome of the commit, once done is closed
}

// savepoint brackets one member's writes in a batch.
const batchSavepoint = "queue_tx"

// join waits for a turn to write in a shared transaction and returns it, its savepoint set.
// expected says that the caller was counted by expect.
func (b *Batcher) join(expected bool) (*batch, error) {
	b.mu.Lock()
	if expected {
		b.expected--
	}
	if bt := b.cur; bt != nil && bt.size < b.max && bt.failed == nil {
		bt.size++
		bt.waiting++
		bt.wake()
		b.mu.Unlock()
		<-bt.turn
		return bt, b.savepoint(bt)
	}
	bt := &batch{turn: make(chan struct{}), done: make(chan struct{}), joined: make(chan struct{}, 1), size: 1}
	b.cur = bt // writers arriving while this one waits for the lock join it
	b.mu.Unlock()
	b.lock.Lock()
	tx, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		err = fmt.Errorf("begin transaction: %w", err)
		b.leave(bt, false, false, err)
		return nil, err
	}
	bt.tx = tx
	return bt, b.savepoint(bt)
}

// wake wakes the batch's last member if it waits for a sibling (awaitSibling).
func (bt *batch) wake() {
	select {
	case bt.joined <- struct{}{}:
	default:
	}
}

// savepoint starts a member's writes; on failure the member has left the batch.
func (b *Batcher) savepoint(bt *batch) error {
	b.mu.Lock()
	failed := bt.failed
	b.mu.Unlock()
	if failed == nil {
		if _, err := bt.tx.ExecContext(context.Background(), `SAVEPOINT `+batchSavepoint); err != nil {
			failed = fmt.Errorf("savepoint: %w", err)
		}
	}
	if failed != nil {
		b.leave(bt, false, false, failed)
		return failed
	}
	return nil
}

// commit ends a member's writes for the batch to commit, and waits for that commit.
func (b *Batcher) commit(bt *batch, durable bool) error {
	if _, err := bt.tx.ExecContext(context.Background(), `RELEASE SAVEPOINT `+batchSavepoint); err != nil {
		err = fmt.Errorf("release savepoint: %w", err)
		b.leave(bt, false, false, err)
		return err
	}
	return b.leave(bt, true, durable, nil)
}

// undo discards a member's writes and leaves the batch.
func (b *Batcher) undo(bt *batch) error {
	ctx := context.Background()
	_, err := bt.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+batchSavepoint)
	if err == nil {
		_, err = bt.tx.ExecContext(ctx, `RELEASE SAVEPOINT `+batchSavepoint)
	}
	if err != nil {
		// The transaction is in an unknown state: none of it may be committed.
		err = fmt.Errorf("roll back to savepoint: %w", err)
	}
	b.leave(bt, false, false, err)
	return err
}

// leave ends a member's turn: it passes the turn on, or — with nobody waiting — ends the
// batch. A member that committed then waits for the batch's outcome.
func (b *Batcher) leave(bt *batch, committed, durable bool, failed error) error {
	b.mu.Lock()
	if failed != nil && bt.failed == nil {
		bt.failed = failed
	}
	if committed {
		bt.committed++
		bt.durable = bt.durable || durable
	}
	b.awaitSibling(bt)
	if bt.waiting > 0 {
		bt.waiting--
		b.mu.Unlock()
		bt.turn <- struct{}{}
	} else {
		if b.cur == bt {
			b.cur = nil
		}
		b.mu.Unlock()
		b.end(bt)
	}
	if !committed {
		return nil
	}
	<-bt.done
	return bt.err
}

// awaitSibling lets the last member of a batch wait, up to the commit delay, for a transaction
// that holds a message to join the batch. It is called and returns with b.mu held.
func (b *Batcher) awaitSibling(bt *batch) {
	if b.delay <= 0 || bt.failed != nil || bt.size >= b.max {
		return
	}
	var timer *time.Timer
	for bt.waiting == 0 && b.expected > 0 && b.cur == bt {
		if timer == nil {
			timer = time.NewTimer(b.delay)
			defer timer.Stop()
		}
		b.mu.Unlock()
		select {
		case <-bt.joined:
			b.mu.Lock()
		case <-timer.C:
			b.mu.Lock()
			return
		}
	}
}

// end commits the batch — or rolls it back if it failed or nobody committed in it — and
// releases the write lock. No member is in the batch any more.
func (b *Batcher) end(bt *batch) {
	defer b.lock.Unlock()
	defer close(bt.done)
	if bt.tx == nil { // BEGIN failed
		bt.err = bt.failed
		return
	}
	if bt.failed != nil || bt.committed == 0 {
		if err := bt.tx.Rollback(); err != nil && !errors.Is(err, stdsql.ErrTxDone) && bt.failed == nil {
			bt.failed = err
		}
		bt.err = bt.failed
		return
	}
	if bt.durable && b.durable != nil {
		n := b.durable.BeginCommit()
		bt.err = bt.tx.Commit()
		b.durable.EndCommit(n)
		return
	}
	bt.err = bt.tx.Commit()
}
