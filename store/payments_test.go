package store_test

import (
	"context"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
)

// A hold is created at its first check and updated by every later one, keeping when it began;
// a notification counts on the hold of a submission awaiting payment and makes its queued
// check due now — not that of a submission no longer held.
func TestPaymentHolds(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		if err := st.PrepareQueues(ctx, []string{"submissions", "callbacks"}, "callbacks"); err != nil {
			t.Fatal(err)
		}
		start := time.UnixMilli(1_760_000_000_000).UTC()
		later := start.Add(time.Hour)
		for _, id := range []string{"held", "done"} {
			sub := store.Submission{ID: id, Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
				Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: start}
			err := st.InTx(ctx, func(tx wmsql.Tx) error {
				if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
					return err
				}
				if _, err := store.SavePaymentHold(ctx, tx, store.PaymentHold{SubmissionID: id, Provider: "epay", TransactionID: "TX-1",
					Status: "INITIAL", Checks: 1, QueueMessage: "m-" + id, HeldSince: start, NextCheckAt: later, UpdatedAt: start}); err != nil {
					return err
				}
				msg := message.NewMessage("m-"+id, []byte(id))
				msg.Metadata.Set(queue.NotBeforeKey, later.Format(time.RFC3339Nano))
				if err := queue.Publish(tx, "submissions", msg); err != nil {
					return err
				}
				status := store.StatusAwaitingPayment
				if id == "done" {
					status = store.StatusPaymentFailed
				}
				return store.SetStatus(ctx, tx, id, status, start)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		now := start.Add(time.Minute)
		n, err := st.WakePaymentHolds(ctx, "submissions", "epay", "TX-1", now)
		if err != nil || n != 1 {
			t.Fatalf("woken %d, %v; want 1", n, err)
		}
		if n, _ := st.WakePaymentHolds(ctx, "submissions", "other", "TX-1", now); n != 0 {
			t.Fatalf("another provider's transaction woke %d", n)
		}
		due := map[string]int64{}
		rows, err := st.DB.Query(`SELECT payload, not_before FROM "watermill_submissions"`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var payload []byte
			var nb int64
			rows.Scan(&payload, &nb)
			due[string(payload)] = nb
		}
		rows.Close()
		if due["held"] != now.UnixMilli() || due["done"] != later.UnixMilli() {
			t.Fatalf("due times %v; want held now (%d), done unchanged", due, now.UnixMilli())
		}
		h, err := st.PaymentHold(ctx, "held")
		if err != nil || h.Wakeups != 1 || h.Checks != 1 || h.QueueMessage != "m-held" || !h.HeldSince.Equal(start) {
			t.Fatalf("hold %+v %v", h, err)
		}
		// The next check saves the hold: it keeps held_since, and sees the notification.
		var wakeups int
		err = st.InTx(ctx, func(tx wmsql.Tx) (err error) {
			wakeups, err = store.SavePaymentHold(ctx, tx, store.PaymentHold{SubmissionID: "held", Provider: "epay", TransactionID: "TX-1",
				Status: "PAYED", Checks: 2, HeldSince: now, UpdatedAt: now})
			return err
		})
		h, _ = st.PaymentHold(ctx, "held")
		if err != nil || wakeups != 1 || h.Status != "PAYED" || h.Checks != 2 || !h.HeldSince.Equal(start) || !h.NextCheckAt.IsZero() {
			t.Fatalf("after the check: %+v (wakeups %d) %v", h, wakeups, err)
		}
		if held, err := st.PaymentsHeld(ctx); err != nil || len(held) != 1 || held[0].Count != 1 || !held[0].Oldest.Equal(start) {
			t.Fatalf("held: %+v %v", held, err)
		}
		if _, err := st.PaymentHold(ctx, "nobody"); err != store.ErrNotFound {
			t.Fatalf("a submission without a hold: %v", err)
		}
		if o.Driver == store.Postgres {
			notifiedDuringCheck(t, st)
		}
	})
}

// On PostgreSQL a check holds its queue message's row lock while it reads the platform. A
// notification then neither waits for it nor is lost: it counts on the hold at once, and the
// check sees the count when it saves the hold (and checks again at once).
func notifiedDuringCheck(t *testing.T, st *store.Store) {
	ctx := context.Background()
	if _, err := st.DB.Exec(`UPDATE submissions SET status = $1 WHERE id = 'held'`, store.StatusAwaitingPayment); err != nil {
		t.Fatal(err)
	}
	before, _ := st.PaymentHold(ctx, "held")
	check, err := st.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Rollback()
	var offset int64
	if err := check.QueryRow(`SELECT "offset" FROM "watermill_submissions" WHERE payload = $1 FOR UPDATE`, []byte("held")).Scan(&offset); err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() {
		_, err := st.WakePaymentHolds(ctx, "submissions", "epay", "TX-1", time.Now())
		woke <- err
	}()
	select {
	case err := <-woke:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the notification waited for the check")
	}
	wakeups, err := store.SavePaymentHold(ctx, wmsql.TxFromStdSQL(check), store.PaymentHold{SubmissionID: "held", Provider: "epay",
		TransactionID: "TX-1", Status: "INITIAL", Checks: before.Checks + 1, HeldSince: before.HeldSince, UpdatedAt: time.Now()})
	if err != nil || wakeups != before.Wakeups+1 {
		t.Fatalf("the check saw %d wakeups (%v), want %d", wakeups, err, before.Wakeups+1)
	}
}
