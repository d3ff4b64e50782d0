package store_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// What the reply intake looks up: a FIT-Connect case's submissions (oldest first, accepted ones
// only), whether a destination got a submission, one filed reply with its content; and
// retention clears what filed replies kept once they are older than the cutoff.
func TestReplyIntakeLookups(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		now := time.Now().Truncate(time.Millisecond)
		err := st.InTx(ctx, func(tx wmsql.Tx) error {
			for i, id := range []string{"s1", "s2"} {
				sub := store.Submission{ID: id, Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
					Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: now}
				if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
					return err
				}
				// Two FIT-Connect submissions of one case, the second seen later; and one not
				// (yet) accepted.
				e := store.InboxEntry{SubmissionID: "fc-" + id, CaseID: "case-1", Subscription: "s", DestinationID: "d",
					SeenAt: now.Add(time.Duration(i) * time.Second)}
				if _, err := store.NoteInbox(ctx, tx, e); err != nil {
					return err
				}
				e.State, e.AmtsboteID, e.UpdatedAt = store.InboxDecided, id, now
				if _, err := store.UpdateInbox(ctx, tx, e, store.InboxNew); err != nil {
					return err
				}
			}
			if _, err := store.NoteInbox(ctx, tx, store.InboxEntry{SubmissionID: "fc-new", CaseID: "case-1", Subscription: "s",
				DestinationID: "d", SeenAt: now}); err != nil {
				return err
			}
			if err := store.InsertDelivery(ctx, tx, "s2", "fv", now); err != nil {
				return err
			}
			for _, f := range []store.FiledReply{
				{ReceivedAt: now.Add(-48 * time.Hour), Via: "http", Outcome: store.FiledMalformed, Detail: "quotes Anna Müller", Content: []byte(`{"text": "Anna"}`)},
				{ReceivedAt: now, Via: "inbox", Origin: "r.json", Outcome: store.FiledUnmatched, Detail: "no submission x", Content: []byte(`{}`)},
			} {
				if err := store.FileReply(ctx, tx, f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := st.SubmissionsByCaseID(ctx, "case-1")
		if err != nil || len(ids) != 2 || ids[0] != "s1" || ids[1] != "s2" {
			t.Fatalf("case-1: %v %v", ids, err)
		}
		if ids, _ := st.SubmissionsByCaseID(ctx, "case-2"); len(ids) != 0 {
			t.Fatalf("case-2: %v", ids)
		}
		for _, c := range []struct {
			sub, dest string
			want      bool
		}{{"s2", "fv", true}, {"s1", "fv", false}, {"s2", "eakte", false}} {
			if got, err := st.HasDelivery(ctx, c.sub, c.dest); err != nil || got != c.want {
				t.Fatalf("%s to %s: %v %v", c.sub, c.dest, got, err)
			}
		}
		all, _ := st.FiledReplies(ctx, "", 10)
		old, young := all[1], all[0]
		if f, err := st.FiledReply(ctx, old.ID); err != nil || string(f.Content) != `{"text": "Anna"}` || f.Outcome != store.FiledMalformed {
			t.Fatalf("filed reply %d: %+v %v", old.ID, f, err)
		}
		if _, err := st.FiledReply(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a filed reply that does not exist: %v", err)
		}
		purge := func() int {
			var n int
			if err := st.InTx(ctx, func(tx wmsql.Tx) (err error) {
				n, err = store.PurgeFiledReplies(ctx, tx, now.Add(-24*time.Hour))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := purge(); n != 1 {
			t.Fatalf("purged %d filed replies, want 1", n)
		}
		if n := purge(); n != 0 {
			t.Fatalf("purged %d filed replies again", n)
		}
		if f, _ := st.FiledReply(ctx, old.ID); f.Content != nil || f.Detail != store.Redacted || f.Outcome != store.FiledMalformed {
			t.Fatalf("old filed reply after purge: %+v", f)
		}
		if f, _ := st.FiledReply(ctx, young.ID); string(f.Content) != `{}` || f.Detail != "no submission x" {
			t.Fatalf("young filed reply purged: %+v", f)
		}
	})
}

// Moving a store to PostgreSQL keeps the replies: their documents, deliveries and the filed
// ones.
func TestCopyKeepsReplies(t *testing.T) {
	ctx := context.Background()
	from := open(t, store.Options{Driver: store.SQLite, DataDir: t.TempDir()})
	to := open(t, store.Options{Driver: store.Postgres, DSN: storetest.Postgres(t)})
	now := time.Now().Truncate(time.Millisecond)
	err := from.InTx(ctx, func(tx wmsql.Tx) error {
		sub := store.Submission{ID: "s1", Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
			Status: store.StatusDecided, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: now}
		if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
			return err
		}
		r := store.Reply{ID: "r1", SubmissionID: "s1", Source: "fv", Via: "http", ExternalID: "B-1", Kind: "bescheid",
			Status: store.StatusDecided, Subject: "Bescheid", ReceivedAt: now}
		if err := store.InsertReply(ctx, tx, r, []store.ReplyDocument{{Seq: 0, Name: "b.pdf", MediaType: "application/pdf",
			Content: strings.NewReader("%PDF-1.7 Bescheid")}}); err != nil {
			return err
		}
		if err := store.InsertReplyDelivery(ctx, tx, "r1", "email", now); err != nil {
			return err
		}
		return store.FileReply(ctx, tx, store.FiledReply{ReceivedAt: now, Via: "inbox", Outcome: store.FiledUnmatched, Content: []byte("{}")})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Copy(ctx, from, to, nil); err != nil {
		t.Fatal(err)
	}
	r, err := to.ReplyByExternalID(ctx, "fv", "B-1")
	docs, _ := to.ReplyDocuments(ctx, "r1")
	ds, _ := to.ReplyDeliveries(ctx, "r1")
	filed, _ := to.FiledReplies(ctx, "", 10)
	if err != nil || r.Subject != "Bescheid" || len(docs) != 1 || len(ds) != 1 || len(filed) != 1 {
		t.Fatalf("after the copy: %+v %v, documents %+v, deliveries %+v, filed %+v", r, err, docs, ds, filed)
	}
	rc := to.OpenReplyDocument(ctx, "r1", 0, docs[0].Size)
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "%PDF-1.7 Bescheid" {
		t.Fatalf("document after the copy: %q %v", b, err)
	}
	// New filed replies get new ids after the copied ones.
	if err := to.InTx(ctx, func(tx wmsql.Tx) error {
		return store.FileReply(ctx, tx, store.FiledReply{ReceivedAt: now, Via: "http", Outcome: store.FiledMalformed})
	}); err != nil {
		t.Fatal(err)
	}
}
