package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
)

// Reads see the submission, its message and its attachments' content; on SQLite they see one
// state of the store, and the connection goes back to the pool outside any transaction.
func TestReads(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		contents := [][]byte{bytes.Repeat([]byte("a"), store.ChunkSize+10), nil, []byte("small")}
		var atts []store.Attachment
		for i, c := range contents {
			atts = append(atts, store.Attachment{Seq: i, Filename: fmt.Sprintf("f%d", i), PackageName: fmt.Sprintf("p%d", i),
				MediaType: "application/octet-stream", Content: bytes.NewReader(c)})
		}
		now := time.Now()
		sub := store.Submission{ID: "s1", Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
			Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: now}
		msg := store.Message{SubmissionID: "s1", Destination: "d", MessageID: "m1", MessageType: "t", SchemaSet: "s",
			CreatedAt: now, XML: []byte("<x/>")}
		if err := st.InTx(ctx, func(tx wmsql.Tx) error {
			if err := store.InsertSubmission(ctx, tx, sub, atts); err != nil {
				return err
			}
			return store.InsertMessage(ctx, tx, msg)
		}); err != nil {
			t.Fatal(err)
		}

		reads, err := st.BeginReads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reads.Submission(ctx, "s1")
		if err != nil || got.Status != store.StatusReceived {
			t.Fatalf("submission: %+v %v", got, err)
		}
		// A write after the first read, committed while the reads go on.
		if err := st.InTx(ctx, func(tx wmsql.Tx) error {
			return store.SetStatus(ctx, tx, "s1", store.StatusProcessing, now)
		}); err != nil {
			t.Fatal(err)
		}
		again, err := reads.Submission(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if o.Driver == store.SQLite && again.Status != store.StatusReceived {
			t.Errorf("SQLite reads saw a write committed after they began: status %s", again.Status)
		}
		m, err := reads.Message(ctx, "s1", "d")
		if err != nil || string(m.XML) != "<x/>" {
			t.Fatalf("message: %+v %v", m, err)
		}
		list, err := reads.Attachments(ctx, "s1")
		if err != nil || len(list) != len(contents) {
			t.Fatalf("attachments: %+v %v", list, err)
		}
		for i, want := range contents {
			back, err := reads.AttachmentContent(ctx, "s1", list[i].Seq, list[i].Size)
			if err != nil || !bytes.Equal(back, want) {
				t.Fatalf("attachment %d: %d bytes (%v), want %d", i, len(back), err, len(want))
			}
		}
		// Content shorter than the size the list gave (purged, or a damaged store) is an error.
		if _, err := reads.AttachmentContent(ctx, "s1", 2, 6); err == nil || !strings.Contains(err.Error(), "5 of 6 bytes") {
			t.Errorf("short content: %v, want an error naming 5 of 6 bytes", err)
		}
		if _, err := reads.Submission(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing submission: %v, want ErrNotFound", err)
		}
		if err := reads.End(); err != nil {
			t.Fatal(err)
		}
		if err := reads.End(); err != nil {
			t.Errorf("second End: %v", err)
		}
		// Every pooled connection is usable for writes and sees the latest state afterwards.
		for i := 0; i < 20; i++ {
			r, err := st.BeginReads(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s, err := r.Submission(ctx, "s1")
			if err != nil || s.Status != store.StatusProcessing {
				t.Fatalf("round %d: %+v %v", i, s.Status, err)
			}
			if err := r.End(); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.InTx(ctx, func(tx wmsql.Tx) error {
			return store.SetStatus(ctx, tx, "s1", store.StatusDelivered, now)
		}); err != nil {
			t.Fatalf("write after the reads: %v", err)
		}
	})
}
