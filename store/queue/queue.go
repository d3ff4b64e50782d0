package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/tracing"
)

// NotBeforeKey is the message metadata key that schedules a message: it is not handed to a
// subscriber before this time (RFC 3339). Messages without it are due at once.
const NotBeforeKey = "amtsbote_not_before"

// Table returns the quoted table name that holds the queue of topic.
func Table(topic string) string {
	return `"watermill_` + topic + `"`
}

// Undoer is implemented by the subscriber transactions of both backends: Undo discards the
// handler's writes so far while the message stays claimed, so a failed try can be retried or
// recorded as given up in the same transaction.
type Undoer interface {
	Undo() error
}

// Broken reports why a subscriber transaction cannot be used any more — its PostgreSQL session
// was lost, or a failed try could not be undone — or nil. A handler must not act on the message
// of a broken transaction: its claim is gone and another handler may hold the message. The
// transaction refuses every statement; the subscriber then rolls it back and reads the message
// again in a healthy one.
func Broken(tx wmsql.Tx) error {
	if b, ok := tx.(interface{ Broken() error }); ok {
		return b.Broken()
	}
	return nil
}

// ackMarker starts every ack statement, so that the transaction can tell it was acked.
const ackMarker = "/* amtsbote:ack */ "

// insertQuery is the INSERT both backends use: $n placeholders (SQLite numbers them by first
// appearance, which is the same order) and the same columns. A message's NotBeforeKey metadata
// becomes its due time.
func insertQuery(now time.Time, p wmsql.InsertQueryParams) (wmsql.Query, error) {
	if len(p.Msgs) == 0 {
		return wmsql.Query{}, fmt.Errorf("no messages to insert into topic %s", p.Topic)
	}
	nowMS := now.UnixMilli()
	args := make([]any, 0, len(p.Msgs)*5)
	var markers strings.Builder
	for i, msg := range p.Msgs {
		due, err := notBefore(msg, nowMS)
		if err != nil {
			return wmsql.Query{}, err
		}
		metadata, err := json.Marshal(msg.Metadata)
		if err != nil {
			return wmsql.Query{}, fmt.Errorf("encode metadata of message %s: %w", msg.UUID, err)
		}
		args = append(args, msg.UUID, []byte(msg.Payload), string(metadata), due, nowMS)
		if i > 0 {
			markers.WriteByte(',')
		}
		n := i * 5
		markers.WriteString("($" + strconv.Itoa(n+1) + ",$" + strconv.Itoa(n+2) + ",$" + strconv.Itoa(n+3) +
			",$" + strconv.Itoa(n+4) + ",$" + strconv.Itoa(n+5) + ")")
	}
	return wmsql.Query{
		Query: `INSERT INTO ` + Table(p.Topic) + ` (uuid, payload, metadata, not_before, created_at) VALUES ` + markers.String(),
		Args:  args,
	}, nil
}

func notBefore(msg *message.Message, now int64) (int64, error) {
	v := msg.Metadata.Get(NotBeforeKey)
	if v == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("message %s: metadata %s=%q is not an RFC 3339 time: %w", msg.UUID, NotBeforeKey, v, err)
	}
	return t.UnixMilli(), nil
}

// Publish adds messages to a queue through ex — usually the caller's transaction, so they
// become visible exactly when the caller's other writes do. It works on either backend: both
// insert with the same SQL.
func Publish(ex wmsql.ContextExecutor, topic string, msgs ...*message.Message) error {
	pub, err := wmsql.NewPublisher(ex, wmsql.PublisherConfig{SchemaAdapter: SQLiteSchema{}}, nil)
	if err != nil {
		return err
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("enqueue on %s: %w", topic, err)
	}
	return nil
}

// NewWork is a queue message whose payload is one id (a submission's, a reply's), due at
// notBefore (zero: now). It carries the trace of ctx, so the next stage continues it. Every
// stage publishes this shape; packages below the pipeline (the return channel's intake) use it
// without importing the pipeline.
func NewWork(ctx context.Context, id string, notBefore time.Time) *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), []byte(id))
	tracing.Inject(ctx, msg)
	if !notBefore.IsZero() {
		msg.Metadata.Set(NotBeforeKey, notBefore.UTC().Format(time.RFC3339Nano))
	}
	return msg
}

// Backend is what a watermill-sql subscriber needs to consume the queues of one database.
type Backend struct {
	Schema   wmsql.SchemaAdapter
	Offsets  wmsql.OffsetsAdapter
	Beginner wmsql.Beginner
	// RelaxedBeginner's transactions commit without waiting for the disk (see store.Queues).
	RelaxedBeginner wmsql.Beginner
}
