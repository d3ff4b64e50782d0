package queue

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Claims are the queue messages this process's subscribers are handling right now, by queue
// table (see SQLiteSchema). A LazyTx registers the message it reads and releases it when it
// ends: committed with its ack (the row is gone), rolled back, or ended without an ack (the
// row is there to be read again).
type Claims struct {
	mu     sync.Mutex
	tables map[string]*tableClaims
}

type tableClaims struct {
	// mu makes reading the next message and claiming it one step for the table's subscribers.
	mu   sync.Mutex
	held map[int64]struct{}
}

// NewClaims returns an empty set of claims.
func NewClaims() *Claims { return &Claims{tables: map[string]*tableClaims{}} }

func (c *Claims) table(name string) *tableClaims {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[name]
	if t == nil {
		t = &tableClaims{held: map[int64]struct{}{}}
		c.tables[name] = t
	}
	return t
}

// claimedIn is the argument of SQLiteSchema's reading query that stands for the table's
// claimed offsets; LazyTx.QueryContext replaces it with them as a JSON array.
type claimedIn struct {
	claims *Claims
	table  string
}

func claimArg(args []any) int {
	for i, a := range args {
		if _, ok := a.(claimedIn); ok {
			return i
		}
	}
	return -1
}

// claim reads the next message that nobody holds and registers it. It returns the row (empty
// when there is none) and the function that releases the claim (nil when there is none).
func claim(ctx context.Context, db *stdsql.DB, query string, args []any, at int) (*claimedRow, func(), error) {
	arg := args[at].(claimedIn)
	t := arg.claims.table(arg.table)
	t.mu.Lock()
	defer t.mu.Unlock()
	held := make([]int64, 0, len(t.held))
	for offset := range t.held {
		held = append(held, offset)
	}
	list, err := json.Marshal(held)
	if err != nil {
		return nil, nil, err
	}
	args = slices.Clone(args)
	args[at] = string(list)
	row := &claimedRow{}
	err = db.QueryRowContext(ctx, query, args...).Scan(&row.offset, &row.uuid, &row.payload, &row.metadata)
	if errors.Is(err, stdsql.ErrNoRows) {
		return &claimedRow{read: true}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	t.held[row.offset] = struct{}{}
	return row, func() {
		t.mu.Lock()
		delete(t.held, row.offset)
		t.mu.Unlock()
	}, nil
}

// claimedRow is the one row a claiming read returns, already read from the database.
type claimedRow struct {
	offset        int64
	uuid, payload []byte
	metadata      stdsql.NullString
	read          bool
}

func (r *claimedRow) Next() bool {
	if r.read {
		return false
	}
	r.read = true
	return true
}

// Scan copies the row into offset, uuid, payload and metadata destinations (SQLiteSchema
// takes them directly).
func (r *claimedRow) Scan(dest ...any) error {
	if len(dest) != 4 {
		return fmt.Errorf("queue: scan a claimed row into %d values, want 4", len(dest))
	}
	offset, ok1 := dest[0].(*int64)
	uuid, ok2 := dest[1].(*[]byte)
	payload, ok3 := dest[2].(*[]byte)
	metadata, ok4 := dest[3].(*stdsql.NullString)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fmt.Errorf("queue: scan a claimed row into %T, %T, %T, %T", dest...)
	}
	*offset, *uuid, *payload, *metadata = r.offset, r.uuid, r.payload, r.metadata
	return nil
}

func (r *claimedRow) Close() error { return nil }
