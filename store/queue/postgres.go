package queue

import (
	"context"
	stdsql "database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// PostgresSchema is watermill-sql's PostgreSQLQueueSchema with a due time per message and
// SKIP LOCKED reads, so that any number of handlers and instances consume one queue in parallel.
type PostgresSchema struct {
	wmsql.PostgreSQLQueueSchema
	// Now returns the current time; defaults to time.Now. Tests inject a clock.
	Now func() time.Time
}

// PostgresOffsets is watermill-sql's PostgreSQLQueueOffsetsAdapter deleting acked rows, with
// the ack statement marked for PostgresBeginner's transactions.
type PostgresOffsets struct{}

var (
	_ wmsql.SchemaAdapter  = PostgresSchema{}
	_ wmsql.OffsetsAdapter = PostgresOffsets{}
	_ wmsql.Beginner       = PostgresBeginner{}
)

// NewPostgresSchema returns the schema with amtsbote's table naming and binary payloads.
func NewPostgresSchema(now func() time.Time) PostgresSchema {
	return PostgresSchema{
		PostgreSQLQueueSchema: wmsql.PostgreSQLQueueSchema{
			GenerateMessagesTableName: Table,
			GeneratePayloadType:       func(string) string { return "BYTEA" },
			SubscribeBatchSize:        1,
		},
		Now: now,
	}
}

func (s PostgresSchema) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SchemaInitializingQueries creates the topic's table: the columns of PostgreSQLQueueSchema
// (with a 64-bit offset) plus not_before, and the index the subscriber reads by. created_at is
// milliseconds, as on SQLite, so one query serves the queue metrics of both.
func (s PostgresSchema) SchemaInitializingQueries(p wmsql.SchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	table := Table(p.Topic)
	return []wmsql.Query{
		{Query: `CREATE TABLE IF NOT EXISTS ` + table + ` (
			"offset" BIGSERIAL PRIMARY KEY,
			uuid VARCHAR(36) NOT NULL,
			payload BYTEA,
			metadata JSON,
			acked BOOLEAN NOT NULL DEFAULT FALSE,
			not_before BIGINT NOT NULL,
			created_at BIGINT NOT NULL
		)`},
		{Query: `CREATE INDEX IF NOT EXISTS "watermill_` + p.Topic + `_due" ON ` + table + ` (not_before, "offset")`},
	}, nil
}

// InsertQuery inserts messages; a message's NotBeforeKey metadata becomes its due time.
func (s PostgresSchema) InsertQuery(p wmsql.InsertQueryParams) (wmsql.Query, error) {
	return insertQuery(s.now(), p)
}

// SelectQuery locks the message that has been due longest and that no other transaction holds.
func (s PostgresSchema) SelectQuery(p wmsql.SelectQueryParams) (wmsql.Query, error) {
	if p.ConsumerGroup != "" {
		return wmsql.Query{}, fmt.Errorf("queue: consumer groups are not supported (topic %s)", p.Topic)
	}
	return wmsql.Query{
		Query: `SELECT "offset", uuid, payload, metadata FROM ` + Table(p.Topic) + `
			WHERE not_before <= $1 ORDER BY not_before, "offset" LIMIT 1 FOR UPDATE SKIP LOCKED`,
		Args: []any{s.now().UnixMilli()},
	}, nil
}

// SubscribeIsolationLevel is READ COMMITTED: every statement of a handler sees what other
// transactions committed before it, which the store relies on when it locks a submission row
// and then derives the submission's status from all its deliveries.
func (s PostgresSchema) SubscribeIsolationLevel() stdsql.IsolationLevel {
	return stdsql.LevelReadCommitted
}

func (PostgresOffsets) base() wmsql.PostgreSQLQueueOffsetsAdapter {
	return wmsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true, GenerateMessagesTableName: Table}
}

// AckMessageQuery deletes the handled row.
func (o PostgresOffsets) AckMessageQuery(p wmsql.AckMessageQueryParams) (wmsql.Query, error) {
	q, err := o.base().AckMessageQuery(p)
	q.Query = ackMarker + q.Query
	return q, err
}

// ConsumedMessageQuery is not needed: a queue row has a single consumer.
func (o PostgresOffsets) ConsumedMessageQuery(p wmsql.ConsumedMessageQueryParams) (wmsql.Query, error) {
	return o.base().ConsumedMessageQuery(p)
}

// NextOffsetQuery is not used by PostgresSchema.SelectQuery.
func (o PostgresOffsets) NextOffsetQuery(p wmsql.NextOffsetQueryParams) (wmsql.Query, error) {
	return o.base().NextOffsetQuery(p)
}

// SchemaInitializingQueries: PostgresSchema creates the table.
func (o PostgresOffsets) SchemaInitializingQueries(p wmsql.OffsetsSchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	return o.base().SchemaInitializingQueries(p)
}

// BeforeSubscribingQueries: nothing to prepare.
func (o PostgresOffsets) BeforeSubscribingQueries(p wmsql.BeforeSubscribingQueriesParams) ([]wmsql.Query, error) {
	return o.base().BeforeSubscribingQueries(p)
}

// PostgresBeginner is the watermill-sql Beginner for PostgreSQL subscribers.
type PostgresBeginner struct {
	DB *stdsql.DB
	// Relaxed transactions commit without waiting for the WAL to reach the disk
	// (synchronous_commit = off): for idempotent stages only.
	Relaxed bool
}

// BeginTx begins the transaction that locks the next message and holds the handler's writes.
func (b PostgresBeginner) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (wmsql.Tx, error) {
	tx, err := b.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	if b.Relaxed {
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("relax commit: %w", err)
		}
	}
	return &PostgresTx{tx: tx}, nil
}

// ExecContext runs a statement outside any transaction.
func (b PostgresBeginner) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	return b.DB.ExecContext(ctx, query, args...)
}

// QueryContext runs a query outside any transaction.
func (b PostgresBeginner) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	return b.DB.QueryContext(ctx, query, args...)
}

// PostgresTx is a subscriber transaction. The handler's writes follow a savepoint, so Undo can
// discard them without giving up the message's row lock; Commit commits only together with the
// ack (watermill-sql also commits when it discards a message on shutdown while the handler may
// still be writing) and the transaction refuses writes once it has ended.
//
// A transaction whose session is lost (an idle-in-transaction timeout, a proxy, a failover) or
// that cannot be undone to its savepoint is broken: its row lock is gone or useless, and another
// handler may hold the message already. It refuses every further statement, the ack included,
// so the subscriber rolls it back and reads the message again in a new transaction; the handler
// must not act on the message meanwhile (Broken).
type PostgresTx struct {
	mu        sync.Mutex
	tx        *stdsql.Tx
	savepoint bool
	acked     bool
	ended     bool
	broken    error
}

const savepoint = "amtsbote_handler"

// errBroken wraps the failure that broke a transaction.
type errBroken struct{ cause error }

func (e errBroken) Error() string {
	return "the queue transaction is broken (" + e.cause.Error() + "); the message is read again in a new one"
}

func (e errBroken) Unwrap() error { return e.cause }

// breaks marks the transaction broken by err and returns the error to report.
func (t *PostgresTx) breaks(err error) error {
	if t.broken == nil {
		t.broken = err
	}
	return errBroken{t.broken}
}

// ExecContext runs a statement in the transaction, setting the savepoint before the handler's
// first write.
func (t *PostgresTx) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, errEnded
	}
	if t.broken != nil {
		return nil, errBroken{t.broken}
	}
	if strings.HasPrefix(query, ackMarker) {
		// The ack deletes the row this transaction locked. Deleted inside the savepoint's
		// subtransaction, the row would get a MultiXact as its deleter (locked by the
		// transaction, deleted by the subtransaction), and PostgreSQL never marks such a row
		// dead in an index: every read of the queue would step over all rows deleted since the
		// last VACUUM (1,700 buffers per read with 2,000 of them). Releasing the savepoint first
		// makes the transaction itself the deleter.
		if t.savepoint {
			if _, err := t.tx.ExecContext(ctx, `RELEASE SAVEPOINT `+savepoint); err != nil {
				return nil, t.breaks(fmt.Errorf("release savepoint: %w", err))
			}
			t.savepoint = false
		}
		t.acked = true
		res, err := t.tx.ExecContext(ctx, query, args...)
		if err != nil {
			return nil, t.breaks(err) // no savepoint left to undo to
		}
		return res, nil
	} else if !t.savepoint {
		if _, err := t.tx.ExecContext(ctx, `SAVEPOINT `+savepoint); err != nil {
			return nil, t.breaks(fmt.Errorf("set savepoint: %w", err))
		}
		t.savepoint = true
	}
	return t.tx.ExecContext(ctx, query, args...) // a failure is undone to the savepoint (Undo)
}

// QueryContext runs a query in the transaction. A query that fails before the handler's first
// write has no savepoint to go back to: the transaction is broken.
func (t *PostgresTx) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, errEnded
	}
	if t.broken != nil {
		return nil, errBroken{t.broken}
	}
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil && !t.savepoint {
		return nil, t.breaks(err)
	}
	return rows, err
}

// Broken reports why the transaction cannot be used any more, or nil.
func (t *PostgresTx) Broken() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.broken
}

// Undo discards the handler's writes; the message stays locked by this transaction. If they
// cannot be undone the transaction is broken.
func (t *PostgresTx) Undo() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acked = false
	if t.ended || t.broken != nil || !t.savepoint {
		return nil
	}
	if _, err := t.tx.Exec(`ROLLBACK TO SAVEPOINT ` + savepoint); err != nil {
		return t.breaks(fmt.Errorf("roll back to savepoint: %w", err))
	}
	return nil
}

// Commit commits the writes together with the ack; without an ack, or broken, it rolls them
// back.
func (t *PostgresTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return stdsql.ErrTxDone
	}
	t.ended = true
	if !t.acked || t.broken != nil {
		if err := t.tx.Rollback(); err != nil && !errors.Is(err, stdsql.ErrTxDone) && t.broken == nil {
			return err
		}
		if t.broken != nil {
			return errBroken{t.broken}
		}
		return nil
	}
	return t.tx.Commit()
}

// Rollback ends the transaction without keeping anything; the message is unlocked. A
// connection that is already gone (shutdown cancelled the query) has nothing left to undo.
func (t *PostgresTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ended = true
	err := t.tx.Rollback()
	if err == nil || t.broken != nil || errors.Is(err, stdsql.ErrTxDone) || errors.Is(err, driver.ErrBadConn) || strings.Contains(err.Error(), "conn closed") {
		return nil
	}
	return err
}
