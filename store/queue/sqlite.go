package queue

import (
	stdsql "database/sql"
	"encoding/json"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// SQLiteSchema is a watermill-sql SchemaAdapter for SQLite queues.
//
// One process uses an SQLite store, so the claims that keep several subscribers of one queue —
// the handlers of one destination with max_in_flight > 1 — from taking the same message live in
// its memory (Claims): reading the next message is a read, not a write that would queue for the
// store's one writer and be written to disk. A claim ends with its transaction; a process that
// dies takes its claims with it.
type SQLiteSchema struct {
	// Now returns the current time; defaults to time.Now. Tests inject a clock.
	Now func() time.Time
	// Claims are the messages being handled right now; reading needs them (publishing does not).
	Claims *Claims
}

// SQLiteOffsets is the matching watermill-sql OffsetsAdapter: acking deletes the row.
type SQLiteOffsets struct{}

var (
	_ wmsql.SchemaAdapter  = SQLiteSchema{}
	_ wmsql.OffsetsAdapter = SQLiteOffsets{}
)

func (s SQLiteSchema) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SchemaInitializingQueries creates the topic's table and the index the subscriber reads by.
// (claimed_until is left from when claims were written to the table; it is not used.)
func (s SQLiteSchema) SchemaInitializingQueries(p wmsql.SchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	table := Table(p.Topic)
	index := `"watermill_` + p.Topic + `_due"`
	return []wmsql.Query{
		{Query: `CREATE TABLE IF NOT EXISTS ` + table + ` (
			"offset" INTEGER PRIMARY KEY AUTOINCREMENT,
			uuid TEXT NOT NULL,
			payload BLOB,
			metadata TEXT,
			not_before INTEGER NOT NULL,
			created_at INTEGER NOT NULL,
			claimed_until INTEGER NOT NULL DEFAULT 0
		)`},
		{Query: `CREATE INDEX IF NOT EXISTS ` + index + ` ON ` + table + ` (not_before, "offset")`},
	}, nil
}

// InsertQuery inserts messages; a message's NotBeforeKey metadata becomes its due time.
func (s SQLiteSchema) InsertQuery(p wmsql.InsertQueryParams) (wmsql.Query, error) {
	return insertQuery(s.now(), p)
}

// SelectQuery reads the message that has been due longest and is not claimed; the LazyTx that
// runs it claims it. One at a time: a transaction must not hold messages it is not handling.
func (s SQLiteSchema) SelectQuery(p wmsql.SelectQueryParams) (wmsql.Query, error) {
	if p.ConsumerGroup != "" {
		return wmsql.Query{}, fmt.Errorf("queue: consumer groups are not supported (topic %s)", p.Topic)
	}
	if s.Claims == nil {
		return wmsql.Query{}, fmt.Errorf("queue: reading topic %s needs the process's claims (SQLiteSchema.Claims)", p.Topic)
	}
	table := Table(p.Topic)
	return wmsql.Query{
		Query: `SELECT "offset", uuid, payload, metadata FROM ` + table + `
			WHERE not_before <= ? AND "offset" NOT IN (SELECT value FROM json_each(?))
			ORDER BY not_before, "offset" LIMIT 1`,
		Args: []any{s.now().UnixMilli(), claimedIn{claims: s.Claims, table: table}},
	}, nil
}

// UnmarshalMessage turns a selected row into a watermill message.
func (s SQLiteSchema) UnmarshalMessage(p wmsql.UnmarshalMessageParams) (wmsql.Row, error) {
	var r wmsql.Row
	var metadata stdsql.NullString
	if c, ok := p.Row.(*claimedRow); ok {
		r.Offset, r.UUID, r.Payload, metadata = c.offset, c.uuid, c.payload, c.metadata
	} else if err := p.Row.Scan(&r.Offset, &r.UUID, &r.Payload, &metadata); err != nil {
		return wmsql.Row{}, fmt.Errorf("scan queue row: %w", err)
	}
	msg := message.NewMessage(string(r.UUID), r.Payload)
	if metadata.Valid && metadata.String != "" {
		if err := json.Unmarshal([]byte(metadata.String), &msg.Metadata); err != nil {
			return wmsql.Row{}, fmt.Errorf("decode metadata of queue row %d: %w", r.Offset, err)
		}
		r.Metadata = []byte(metadata.String)
	}
	r.Msg = msg
	return r, nil
}

// SubscribeIsolationLevel is the driver default: SQLite transactions are serializable.
func (s SQLiteSchema) SubscribeIsolationLevel() stdsql.IsolationLevel {
	return stdsql.LevelDefault
}

// AckMessageQuery deletes the handled row: the queue holds only work still to do.
func (SQLiteOffsets) AckMessageQuery(p wmsql.AckMessageQueryParams) (wmsql.Query, error) {
	return wmsql.Query{
		Query: ackMarker + `DELETE FROM ` + Table(p.Topic) + ` WHERE "offset" = ?`,
		Args:  []any{p.LastRow.Offset},
	}, nil
}

// ConsumedMessageQuery is not needed: a queue row has a single consumer.
func (SQLiteOffsets) ConsumedMessageQuery(wmsql.ConsumedMessageQueryParams) (wmsql.Query, error) {
	return wmsql.Query{}, nil
}

// NextOffsetQuery is not used by SQLiteSchema.SelectQuery.
func (SQLiteOffsets) NextOffsetQuery(wmsql.NextOffsetQueryParams) (wmsql.Query, error) {
	return wmsql.Query{}, nil
}

// SchemaInitializingQueries: SQLiteSchema creates the table.
func (SQLiteOffsets) SchemaInitializingQueries(wmsql.OffsetsSchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	return nil, nil
}

// BeforeSubscribingQueries: nothing to prepare.
func (SQLiteOffsets) BeforeSubscribingQueries(wmsql.BeforeSubscribingQueriesParams) ([]wmsql.Query, error) {
	return nil, nil
}
