package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
)

// A reply is stored with its documents, once per external id; its status only moves forward
// and outlives later delivery outcomes; its delivery per channel is saved only over the state
// read; retention purges its text and documents.
func TestRepliesStoreAdvanceAndPurge(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		now := time.Now().Truncate(time.Millisecond)
		tx := func(fn func(tx wmsql.Tx) error) {
			t.Helper()
			if err := st.InTx(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		sub := store.Submission{ID: "s1", Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
			Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: now}
		tx(func(tx wmsql.Tx) error {
			if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
				return err
			}
			if err := store.InsertDelivery(ctx, tx, "s1", "fv", now); err != nil {
				return err
			}
			return store.SetStatus(ctx, tx, "s1", store.StatusDelivered, now)
		})
		pdf := bytes.Repeat([]byte("%PDF-1.7 Bescheid "), 100_000) // more than one chunk
		r := store.Reply{ID: "r1", SubmissionID: "s1", Source: "fv", Via: "http", ExternalID: "B-1", Kind: "bescheid",
			Status: store.StatusDecided, Subject: "Bescheid", Text: "SECRET-TEXT", ReceivedAt: now}
		tx(func(tx wmsql.Tx) error {
			return store.InsertReply(ctx, tx, r, []store.ReplyDocument{{Seq: 0, Name: "bescheid.pdf", MediaType: "application/pdf",
				Content: bytes.NewReader(pdf)}})
		})
		err := st.InTx(ctx, func(tx wmsql.Tx) error {
			r2 := r
			r2.ID = "r2"
			return store.InsertReply(ctx, tx, r2, nil)
		})
		if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("same external id again: %v, want ErrDuplicate", err)
		}
		if got, err := st.ReplyByExternalID(ctx, "fv", "B-1"); err != nil || got.ID != "r1" {
			t.Fatalf("by external id: %+v %v", got, err)
		}
		got, err := st.Replies(ctx, "s1")
		if err != nil || len(got) != 1 || got[0].Text != "SECRET-TEXT" || !got[0].ReceivedAt.Equal(now) {
			t.Fatalf("replies: %+v %v", got, err)
		}
		docs, err := st.ReplyDocuments(ctx, "r1")
		if err != nil || len(docs) != 1 || docs[0].Size != int64(len(pdf)) || docs[0].SHA256 == "" {
			t.Fatalf("documents: %+v %v", docs, err)
		}
		rc := st.OpenReplyDocument(ctx, "r1", 0, docs[0].Size)
		back, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(back, pdf) {
			t.Fatalf("document read back %d bytes (%v)", len(back), err)
		}

		// Forward only: in_progress after decided does nothing; closed moves on.
		steps := []struct {
			to    string
			moved bool
			want  string
		}{
			{store.StatusDecided, true, store.StatusDecided},
			{store.StatusInProgress, false, store.StatusDecided},
			{store.StatusDecided, false, store.StatusDecided},
			{store.StatusClosed, true, store.StatusClosed},
			{store.StatusDecided, false, store.StatusClosed},
		}
		for _, s := range steps {
			var moved bool
			tx(func(tx wmsql.Tx) (err error) { moved, err = store.AdvanceStatus(ctx, tx, "s1", s.to, now); return err })
			cur, _ := st.Submission(ctx, "s1")
			if moved != s.moved || cur.Status != s.want {
				t.Fatalf("advance to %s: moved %v status %s, want %v %s", s.to, moved, cur.Status, s.moved, s.want)
			}
		}
		// A receipt coming in afterwards does not undo what the authority said.
		tx(func(tx wmsql.Tx) error {
			if err := store.SetReceiptOutcome(ctx, tx, "s1", "fv", store.DeliveryAcknowledged, "", "", now); err != nil {
				return err
			}
			return st.RefreshStatus(ctx, tx, "s1", now)
		})
		if cur, _ := st.Submission(ctx, "s1"); cur.Status != store.StatusClosed {
			t.Fatalf("after a receipt: %s, want closed", cur.Status)
		}

		// Deliveries per channel: saved only over the pending state with the attempts read.
		tx(func(tx wmsql.Tx) error { return store.InsertReplyDelivery(ctx, tx, "r1", "email", now) })
		var d store.ReplyDelivery
		tx(func(tx wmsql.Tx) (err error) { d, err = store.ReadReplyDelivery(ctx, tx, "r1", "email"); return err })
		d.Status, d.Attempts, d.LastError, d.UpdatedAt = store.ReplyDead, 1, "550 no such user", now
		var saved bool
		tx(func(tx wmsql.Tx) (err error) { saved, err = store.UpdateReplyDelivery(ctx, tx, d, 0); return err })
		if !saved {
			t.Fatal("first outcome not saved")
		}
		tx(func(tx wmsql.Tx) (err error) { saved, err = store.UpdateReplyDelivery(ctx, tx, d, 0); return err })
		if saved {
			t.Fatal("an outcome over a concluded delivery was saved")
		}
		if dead, _ := st.ReplyDeliveriesByStatus(ctx, store.ReplyDead, 10); len(dead) != 1 || dead[0].LastError != "550 no such user" {
			t.Fatalf("dead: %+v", dead)
		}
		var replayed bool
		tx(func(tx wmsql.Tx) (err error) {
			replayed, err = store.ReplayReplyDelivery(ctx, tx, "r1", "email", now)
			return err
		})
		if ds, _ := st.ReplyDeliveries(ctx, "r1"); !replayed || ds[0].Status != store.ReplyPending || ds[0].Attempts != 0 {
			t.Fatalf("replayed %v: %+v", replayed, ds)
		}

		tx(func(tx wmsql.Tx) error {
			return store.FileReply(ctx, tx, store.FiledReply{ReceivedAt: now, Via: "inbox", Origin: "x.zip",
				Outcome: store.FiledUnmatched, Detail: "no submission s9", Names: "s9", Content: []byte("zip")})
		})
		if f, err := st.FiledReplies(ctx, store.FiledUnmatched, 10); err != nil || len(f) != 1 || string(f[0].Content) != "zip" {
			t.Fatalf("filed: %+v %v", f, err)
		}
		if f, _ := st.FiledReplies(ctx, store.FiledMalformed, 10); len(f) != 0 {
			t.Fatalf("filed malformed: %+v", f)
		}

		// Retention: the reply's text and documents go with the submission's data.
		var purged bool
		tx(func(tx wmsql.Tx) (err error) {
			purged, err = store.Purge(ctx, tx, "s1", now.Add(time.Hour),
				store.PurgeDue{Statuses: []string{store.StatusClosed}, Before: now.Add(time.Hour)})
			return err
		})
		if !purged {
			t.Fatal("not purged")
		}
		after, _ := st.Reply(ctx, "r1")
		if after.Text != "" || after.Subject != "" || after.PurgedAt.IsZero() {
			t.Fatalf("reply after purge: %+v", after)
		}
		docs, _ = st.ReplyDocuments(ctx, "r1")
		rc = st.OpenReplyDocument(ctx, "r1", 0, docs[0].Size)
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil || strings.Contains(docs[0].Name, "bescheid") {
			t.Fatalf("document after purge: %+v, read error %v", docs[0], err)
		}
	})
}
