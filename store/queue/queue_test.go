package queue_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// eachBackend runs a queue test on SQLite and (when a test server is configured) PostgreSQL.
func eachBackend(t *testing.T, test func(t *testing.T, st *store.Store)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) {
			o := store.Options{Driver: b, DataDir: t.TempDir()}
			if b == store.Postgres {
				o.DSN = storetest.Postgres(t)
			}
			st, err := store.OpenWith(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			test(t, st)
		})
	}
}

func initTopic(t *testing.T, st *store.Store, topic string) {
	t.Helper()
	if err := st.PrepareQueues(context.Background(), []string{topic, "callbacks"}, "callbacks"); err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, st *store.Store, topic string, msgs ...*message.Message) {
	t.Helper()
	if err := queue.Publish(wmsql.BeginnerFromStdSQL(st.DB), topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

func subscribe(t *testing.T, st *store.Store, topic string) <-chan *message.Message {
	t.Helper()
	q := st.Queues(nil)
	sub, err := wmsql.NewSubscriber(q.Beginner, wmsql.SubscriberConfig{
		PollInterval: 10 * time.Millisecond, ResendInterval: 10 * time.Millisecond,
		SchemaAdapter: q.Schema, OffsetsAdapter: q.Offsets,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

func queued(t *testing.T, st *store.Store, topic string) int {
	t.Helper()
	var n int
	if err := st.DB.QueryRow(`SELECT count(*) FROM ` + queue.Table(topic)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A message is delivered in order, removed from the queue only after its ack, and the handler's
// writes through the transaction in its context commit together with the ack.
func TestAckCommitsHandlerWrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		initTopic(t, st, "t1")
		if _, err := st.DB.Exec(`CREATE TABLE effects (v TEXT)`); err != nil {
			t.Fatal(err)
		}
		publish(t, st, "t1", message.NewMessage("a", []byte("first")), message.NewMessage("b", []byte("second")))
		ch := subscribe(t, st, "t1")
		for _, want := range []string{"first", "second"} {
			m := receive(t, ch)
			if string(m.Payload) != want {
				t.Fatalf("got %q, want %q", m.Payload, want)
			}
			tx, ok := wmsql.TxFromContext(m.Context())
			if !ok {
				t.Fatal("no transaction in message context")
			}
			if _, err := tx.ExecContext(m.Context(), `INSERT INTO effects VALUES ($1)`, want); err != nil {
				t.Fatal(err)
			}
			m.Ack()
		}
		waitFor(t, func() bool { return queued(t, st, "t1") == 0 })
		var n int
		st.DB.QueryRow(`SELECT count(*) FROM effects`).Scan(&n)
		if n != 2 {
			t.Fatalf("effects committed: %d, want 2", n)
		}
	})
}

// A nacked message comes back; writes of the failed try are gone once the transaction is rolled back.
func TestNackRedeliversWithoutEarlierWrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		initTopic(t, st, "t2")
		st.DB.Exec(`CREATE TABLE effects (v TEXT)`)
		publish(t, st, "t2", message.NewMessage("a", []byte("x")))
		ch := subscribe(t, st, "t2")
		m := receive(t, ch)
		tx, _ := wmsql.TxFromContext(m.Context())
		tx.ExecContext(m.Context(), `INSERT INTO effects VALUES ('failed try')`)
		tx.(queue.Undoer).Undo()
		m.Nack()
		m = receive(t, ch)
		tx, _ = wmsql.TxFromContext(m.Context())
		tx.ExecContext(m.Context(), `INSERT INTO effects VALUES ('second try')`)
		m.Ack()
		waitFor(t, func() bool { return queued(t, st, "t2") == 0 })
		var v string
		var n int
		st.DB.QueryRow(`SELECT count(*), max(v) FROM effects`).Scan(&n, &v)
		if n != 1 || v != "second try" {
			t.Fatalf("effects = %d (%q), want only the second try", n, v)
		}
	})
}

// A message scheduled for later is not handed out before its time, and does not hold up a
// message that is due now.
func TestNotBeforeSchedulesWithoutBlocking(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		initTopic(t, st, "t3")
		later := message.NewMessage("later", []byte("later"))
		later.Metadata.Set(queue.NotBeforeKey, time.Now().Add(400*time.Millisecond).Format(time.RFC3339Nano))
		publish(t, st, "t3", later, message.NewMessage("now", []byte("now")))
		ch := subscribe(t, st, "t3")
		start := time.Now()
		m := receive(t, ch)
		if string(m.Payload) != "now" {
			t.Fatalf("first message = %q, want the one due now", m.Payload)
		}
		m.Ack()
		m = receive(t, ch)
		if string(m.Payload) != "later" || time.Since(start) < 350*time.Millisecond {
			t.Fatalf("got %q after %v, want \"later\" after its due time", m.Payload, time.Since(start))
		}
		m.Ack()
	})
}

func TestBadNotBeforeIsAnError(t *testing.T) {
	m := message.NewMessage("x", nil)
	m.Metadata.Set(queue.NotBeforeKey, "tomorrow")
	_, err := queue.SQLiteSchema{}.InsertQuery(wmsql.InsertQueryParams{Topic: "t", Msgs: message.Messages{m}})
	if err == nil {
		t.Fatal("want an error for a malformed due time")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(errors.New("condition not met within 5s"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Several subscribers of one queue share the work: no message is handed to two of them.
func TestConcurrentSubscribersNeverShareAMessage(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		initTopic(t, st, "t4")
		const n = 60
		var msgs []*message.Message
		for i := 0; i < n; i++ {
			msgs = append(msgs, message.NewMessage(fmt.Sprint(i), []byte(fmt.Sprint(i))))
		}
		publish(t, st, "t4", msgs...)
		seen := make(chan string, 2*n)
		for s := 0; s < 3; s++ {
			ch := subscribe(t, st, "t4")
			go func() {
				for m := range ch {
					seen <- string(m.Payload)
					time.Sleep(2 * time.Millisecond) // work in flight while the others poll
					m.Ack()
				}
			}()
		}
		got := map[string]int{}
		deadline := time.After(10 * time.Second)
		for len(got) < n {
			select {
			case p := <-seen:
				got[p]++
				if got[p] > 1 {
					t.Fatalf("message %s was handed out twice", p)
				}
			case <-deadline:
				t.Fatalf("only %d of %d messages handled", len(got), n)
			}
		}
	})
}

// A transaction the subscriber ends without an ack (a message discarded on shutdown while its
// handler still runs) commits none of the handler's writes and takes no more.
func TestCommitWithoutAckKeepsNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		st.DB.Exec(`CREATE TABLE effects (v TEXT)`)
		tx, _ := st.Queues(nil).Beginner.BeginTx(context.Background(), nil)
		if _, err := tx.ExecContext(context.Background(), `INSERT INTO effects VALUES ('half done')`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(context.Background(), `INSERT INTO effects VALUES ('late')`); err == nil {
			t.Fatal("a write after the end was accepted")
		}
		var n int
		st.DB.QueryRow(`SELECT count(*) FROM effects`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d rows committed without an ack", n)
		}
	})
}

// PostgreSQL: a message whose consumer dies (its session ends, as when the instance is killed)
// is handed to another consumer; the dead one's uncommitted writes are gone.
func TestDeadSessionReleasesItsMessage(t *testing.T) {
	st, err := store.OpenWith(context.Background(), store.Options{Driver: store.Postgres, DSN: storetest.Postgres(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	initTopic(t, st, "t5")
	st.DB.Exec(`CREATE TABLE effects (v TEXT)`)
	publish(t, st, "t5", message.NewMessage("a", []byte("x")))
	first := subscribe(t, st, "t5")
	m := receive(t, first)
	tx, _ := wmsql.TxFromContext(m.Context())
	if _, err := tx.ExecContext(m.Context(), `INSERT INTO effects VALUES ('dying')`); err != nil {
		t.Fatal(err)
	}
	// The instance "dies": its session is ended by the server, as after kill -9.
	var killed int
	if err := st.DB.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d sessions (%v), want the one holding the message", killed, err)
	}
	second := subscribe(t, st, "t5")
	m2 := receive(t, second)
	if m2.UUID != "a" {
		t.Fatalf("got message %s, want the dead consumer's", m2.UUID)
	}
	m2.Ack()
	waitFor(t, func() bool { return queued(t, st, "t5") == 0 })
	var n int
	st.DB.QueryRow(`SELECT count(*) FROM effects`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d writes of the dead consumer committed", n)
	}
}

// A claim lasts as long as the transaction that read the message: undoing a failed try keeps
// it (the handler tries again), the subscriber's rollback and a commit without an ack end it,
// and then the message is read again.
func TestClaimsEndWithTheTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		initTopic(t, st, "t6")
		st.DB.Exec(`CREATE TABLE effects (v TEXT)`)
		publish(t, st, "t6", message.NewMessage("a", []byte("A")), message.NewMessage("b", []byte("B")))
		q := st.Queues(nil)
		read := func(tx wmsql.Tx) string {
			t.Helper()
			sel, err := q.Schema.SelectQuery(wmsql.SelectQueryParams{Topic: "t6", OffsetsAdapter: q.Offsets})
			if err != nil {
				t.Fatal(err)
			}
			rows, err := tx.QueryContext(ctx, sel.Query, sel.Args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			if !rows.Next() {
				return ""
			}
			row, err := q.Schema.UnmarshalMessage(wmsql.UnmarshalMessageParams{Row: rows})
			if err != nil {
				t.Fatal(err)
			}
			return string(row.Msg.Payload)
		}
		begin := func() wmsql.Tx {
			tx, err := q.Beginner.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			return tx
		}
		first, second := begin(), begin()
		if got := read(first); got != "A" {
			t.Fatalf("first read %q, want A", got)
		}
		if got := read(second); got != "B" {
			t.Fatalf("second read %q, want B (A is claimed)", got)
		}
		if _, err := first.ExecContext(ctx, `INSERT INTO effects VALUES ('tried')`); err != nil {
			t.Fatal(err)
		}
		if err := first.(queue.Undoer).Undo(); err != nil {
			t.Fatal(err)
		}
		third := begin()
		if got := read(third); got != "" {
			t.Fatalf("read %q while both messages are claimed (an undo keeps the claim)", got)
		}
		third.Rollback()
		if err := first.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := read(begin()); got != "A" {
			t.Fatalf("after the rollback read %q, want A again", got)
		}
		if err := second.Commit(); err != nil { // ends without an ack
			t.Fatal(err)
		}
		if got := read(begin()); got != "B" {
			t.Fatalf("after a commit without ack read %q, want B again", got)
		}
	})
}

// Rows acked after handler writes (which run behind a savepoint) must die in the index like any
// deleted row: otherwise PostgreSQL never marks them dead there, and every read of the queue
// steps over all rows acked since the last VACUUM. The first read after the acks visits them
// once and marks them; the second must not visit them again.
func TestAckedRowsDoNotSlowTheQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		if st.Driver != store.Postgres {
			t.Skip("PostgreSQL only: SQLite's queue reads do not go through MVCC index entries")
		}
		initTopic(t, st, "t1")
		if _, err := st.DB.Exec(`CREATE TABLE effects (v TEXT)`); err != nil {
			t.Fatal(err)
		}
		// 200 rows of 1.5 KB fill 40 pages: an index entry not marked dead costs a page visit.
		const n = 200
		var msgs []*message.Message
		for i := range n {
			payload := make([]byte, 1500)
			rand.Read(payload)
			msgs = append(msgs, message.NewMessage(fmt.Sprint(i), payload))
		}
		publish(t, st, "t1", msgs...)
		ch := subscribe(t, st, "t1")
		for range n {
			m := receive(t, ch)
			tx, _ := wmsql.TxFromContext(m.Context())
			if _, err := tx.ExecContext(m.Context(), `INSERT INTO effects VALUES ($1)`, m.UUID); err != nil {
				t.Fatal(err)
			}
			m.Ack()
		}
		waitFor(t, func() bool { return queued(t, st, "t1") == 0 })
		read := func() int {
			var plan string
			err := st.DB.QueryRow(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT "offset" FROM `+queue.Table("t1")+`
				WHERE not_before <= $1 ORDER BY not_before, "offset" LIMIT 1`, time.Now().Add(time.Hour).UnixMilli()).Scan(&plan)
			if err != nil {
				t.Fatal(err)
			}
			var out []struct {
				Plan struct {
					Hits int `json:"Shared Hit Blocks"`
				} `json:"Plan"`
			}
			if err := json.Unmarshal([]byte(plan), &out); err != nil || len(out) != 1 {
				t.Fatalf("plan %s: %v", plan, err)
			}
			return out[0].Plan.Hits
		}
		// A row can only be marked dead once no snapshot in the database can still see it, and
		// other tests' transactions on the same server may hold one for a moment: read until the
		// horizon has passed, but no longer than a few seconds.
		first, last := read(), 0
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if last = read(); last <= 20 || time.Now().After(deadline) {
				break
			}
		}
		if last > 20 {
			t.Fatalf("reading the empty queue visited %d buffers after %d acks (first read: %d): acked rows are not dead in the index", last, n, first)
		}
	})
}
