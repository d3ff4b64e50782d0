package replies_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
	"github.com/amtsbote/amtsbote/store/storetest"
	"github.com/amtsbote/amtsbote/xoev"
)

func eachBackend(t *testing.T, test func(t *testing.T, o store.Options)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) {
			o := store.Options{Driver: b, DataDir: t.TempDir()}
			if b == store.Postgres {
				o.DSN = storetest.Postgres(t)
			}
			test(t, o)
		})
	}
}

// fixture is a store with three delivered submissions: s1 went to fv and eakte (message
// pid-fv for fv) and came from FIT-Connect case case-1; s2 went to eakte only; s3 went to fv
// and retention purged it.
func fixture(t *testing.T, o store.Options) (*store.Store, *replies.Intake) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenWith(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PrepareQueues(ctx, []string{store.TopicReplies, "callbacks"}, "callbacks"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	err = st.InTx(ctx, func(tx wmsql.Tx) error {
		for _, s := range []struct {
			id    string
			dests []string
		}{{"s1", []string{"fv", "eakte"}}, {"s2", []string{"eakte"}}, {"s3", []string{"fv"}}} {
			sub := store.Submission{ID: s.id, Portal: "p", Reference: "r-" + s.id, Leistung: "l", AGS: "a", Route: "x",
				Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: now}
			if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
				return err
			}
			for _, d := range s.dests {
				if err := store.InsertDelivery(ctx, tx, s.id, d, now); err != nil {
					return err
				}
				if err := store.InsertMessage(ctx, tx, store.Message{SubmissionID: s.id, Destination: d, MessageID: "pid-" + d + "-" + s.id,
					MessageType: "Geschaeftsgang.Geschaeftsgang.0201", SchemaSet: "x", CreatedAt: now, XML: []byte("<x/>")}); err != nil {
					return err
				}
			}
			if err := store.SetStatus(ctx, tx, s.id, store.StatusDelivered, now); err != nil {
				return err
			}
		}
		e := store.InboxEntry{SubmissionID: "fc-1", CaseID: "case-1", Subscription: "sub", DestinationID: "d", SeenAt: now}
		if _, err := store.NoteInbox(ctx, tx, e); err != nil {
			return err
		}
		e.State, e.AmtsboteID, e.UpdatedAt = store.InboxDecided, "s1", now
		if _, err := store.UpdateInbox(ctx, tx, e, store.InboxNew); err != nil {
			return err
		}
		_, err := store.Purge(ctx, tx, "s3", now, store.PurgeDue{Statuses: []string{store.StatusDelivered}, Before: now.Add(time.Minute)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	in := &replies.Intake{Store: st, Limits: replies.Limits{MaxDocumentBytes: 4 << 10, MaxDocuments: 3},
		Validate: func(ns string, content []byte) error {
			if bytes.Contains(content, []byte("<Falsch")) {
				return &xoev.ValidationError{SchemaSet: "xdomea-3.0.0", Problems: []xoev.Problem{{Line: 2, Column: 3,
					Message: "Element 'Falsch': This element is not expected."}}}
			}
			return nil
		}}
	return st, in
}

// inline is a reply as a JSON body: the manifest with its files in base64.
func inline(t *testing.T, manifest string, files map[string]string) *replies.Incoming {
	t.Helper()
	for name, content := range files {
		manifest = strings.Replace(manifest, `"filename": "`+name+`"`, `"filename": "`+name+`", "content_base64": "`+
			base64.StdEncoding.EncodeToString([]byte(content))+`"`, 1)
	}
	inc, r := replies.Inline([]byte(manifest), replies.Limits{MaxDocumentBytes: 1 << 20, MaxDocuments: 3})
	if r != nil {
		t.Fatalf("manifest refused: %v", r)
	}
	return inc
}

func queued(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.DB.Query(`SELECT payload FROM ` + queue.Table(store.TopicReplies) + ` ORDER BY "offset"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p []byte
		rows.Scan(&p)
		out = append(out, string(p))
	}
	return out
}

func status(t *testing.T, st *store.Store, id string) string {
	t.Helper()
	sub, err := st.Submission(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Status
}

// Replies move a submission forward only — a Bescheid to decided, an Abschluss to closed, a
// Nachforderung after the Bescheid leaves it decided — each stored with its documents, an
// event naming the Fachverfahren, and a queue message; the same id again is the stored reply.
func TestIntakeMovesStatusForwardOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st, in := fixture(t, o)
		ctx := context.Background()
		fv := replies.Origin{Via: replies.ViaHTTP, Source: "fv", Where: "127.0.0.1"}
		bescheid := `{"submission_id": "s1", "id": "B-1", "kind": "bescheid", "subject": "Ihr Bescheid", "text": "Sehr geehrte Frau Müller",
			"documents": [{"filename": "bescheid.pdf"}], "message": {"filename": "m.xml"}}`
		acc, err := in.Accept(ctx, inline(t, bescheid, map[string]string{"bescheid.pdf": pdf, "m.xml": `<Antwort xmlns="urn:x"/>`}), fv)
		if err != nil || acc.Duplicate || acc.Status != store.StatusDecided || acc.Reply.MessageType != "Antwort" {
			t.Fatalf("bescheid: %+v %v", acc, err)
		}
		docs, _ := st.ReplyDocuments(ctx, acc.Reply.ID)
		if len(docs) != 1 || docs[0].Name != "bescheid.pdf" || docs[0].MediaType != "application/pdf" || docs[0].Size != int64(len(pdf)) {
			t.Fatalf("documents: %+v", docs)
		}
		rc := st.OpenReplyDocument(ctx, acc.Reply.ID, 0, docs[0].Size)
		back, _ := io.ReadAll(rc)
		rc.Close()
		if string(back) != pdf {
			t.Fatalf("document read back %q", back)
		}
		events, _ := st.Events(ctx, "s1")
		last := events[len(events)-1]
		if last.Type != replies.EventReplyReceived || last.Destination != "fv" || !strings.Contains(last.Detail, "bescheid, reply "+acc.Reply.ID+": decided") {
			t.Fatalf("event: %+v", last)
		}
		if q := queued(t, st); len(q) != 1 || q[0] != acc.Reply.ID {
			t.Fatalf("queued %v, want the reply id", q)
		}

		// The same reply again: the stored one, nothing new.
		again, err := in.Accept(ctx, inline(t, bescheid, map[string]string{"bescheid.pdf": pdf, "m.xml": `<Antwort xmlns="urn:x"/>`}), fv)
		if err != nil || !again.Duplicate || again.Reply.ID != acc.Reply.ID {
			t.Fatalf("repeat: %+v %v", again, err)
		}
		if q := queued(t, st); len(q) != 1 {
			t.Fatalf("queued %v after a repeat", q)
		}
		// The same id for another reply is a conflict, filed.
		_, err = in.Accept(ctx, inline(t, `{"submission_id": "s1", "id": "B-1", "kind": "abschluss"}`, nil), fv)
		var r *replies.Refusal
		if !errors.As(err, &r) || r.Reason != replies.ReasonConflict {
			t.Fatalf("id reused: %v", err)
		}

		steps := []struct {
			manifest string
			want     string
		}{
			{`{"prozess_id": "pid-fv-s1", "kind": "nachforderung", "subject": "Bitte reichen Sie nach"}`, store.StatusDecided},
			{`{"case_id": "case-1", "kind": "abschluss"}`, store.StatusClosed},
			{`{"submission_id": "s1", "kind": "status", "status": "in_progress"}`, store.StatusClosed},
		}
		for _, s := range steps {
			acc, err := in.Accept(ctx, inline(t, s.manifest, nil), fv)
			if err != nil || acc.Status != s.want || status(t, st, "s1") != s.want {
				t.Fatalf("%s: %+v %v, want %s", s.manifest, acc, err, s.want)
			}
		}
		if list, _ := st.Replies(ctx, "s1"); len(list) != 4 {
			t.Fatalf("%d replies stored, want 4", len(list))
		}
		if q := queued(t, st); len(q) != 4 {
			t.Fatalf("%d queue messages, want 4", len(q))
		}
		if filed, _ := st.FiledReplies(ctx, "", 10); len(filed) != 1 || filed[0].Outcome != store.FiledMalformed {
			t.Fatalf("filed: %+v", filed)
		}
	})
}

// What cannot be taken is filed with what it named and why, and nothing of it is stored or
// queued.
func TestIntakeFilesWhatItCannotTake(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st, in := fixture(t, o)
		ctx := context.Background()
		tests := []struct {
			name, source, manifest string
			files                  map[string]string
			reason                 replies.Reason
			outcome, detail        string
		}{
			{"unknown submission", "fv", `{"submission_id": "nope", "kind": "bescheid"}`, nil, replies.ReasonUnmatched, "unmatched", "no submission nope"},
			{"unknown ProzessID", "fv", `{"prozess_id": "nope", "kind": "bescheid"}`, nil, replies.ReasonUnmatched, "unmatched", "ProzessID nope"},
			{"unknown case", "fv", `{"case_id": "case-9", "kind": "bescheid"}`, nil, replies.ReasonUnmatched, "unmatched", "case case-9"},
			{"not delivered to the source", "fv", `{"submission_id": "s2", "kind": "bescheid"}`, nil, replies.ReasonUnauthorised, "unauthorised", "not routed to fv"},
			{"another destination's message", "fv", `{"prozess_id": "pid-eakte-s1", "kind": "bescheid"}`, nil, replies.ReasonUnauthorised, "unauthorised", "for eakte, not for fv"},
			{"a case not delivered to the source", "other", `{"case_id": "case-1", "kind": "bescheid"}`, nil, replies.ReasonUnauthorised, "unauthorised", "none delivered to other"},
			{"purged", "fv", `{"submission_id": "s3", "kind": "bescheid"}`, nil, replies.ReasonPurged, "purged", "retention deleted"},
			{"names another source", "fv", `{"submission_id": "s1", "source": "eakte", "kind": "bescheid"}`, nil, replies.ReasonInvalid, "malformed", "source"},
			{"not a PDF", "fv", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`,
				map[string]string{"b.pdf": "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}, replies.ReasonInvalid, "malformed", "is not a PDF: its content shows png"},
			{"a document too large", "fv", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`,
				map[string]string{"b.pdf": pdf + strings.Repeat(" ", 5<<10)}, replies.ReasonTooLarge, "malformed", "larger than the limit"},
			{"an invalid message", "fv", `{"submission_id": "s1", "kind": "bescheid", "message": {"filename": "m.xml"}}`,
				map[string]string{"m.xml": "<Antwort xmlns=\"urn:x\">\n  <Falsch/></Antwort>"}, replies.ReasonInvalid, "malformed", "Element 'Falsch'"},
			{"a message with a DOCTYPE", "fv", `{"submission_id": "s1", "kind": "bescheid", "message": {"filename": "m.xml"}}`,
				map[string]string{"m.xml": `<!DOCTYPE x [<!ENTITY a "b">]><x/>`}, replies.ReasonInvalid, "malformed", "DOCTYPE"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := status(t, st, "s1")
				_, err := in.Accept(ctx, inline(t, tt.manifest, tt.files), replies.Origin{Via: replies.ViaHTTP, Source: tt.source, Where: "10.0.0.7"})
				var r *replies.Refusal
				if !errors.As(err, &r) || r.Reason != tt.reason {
					t.Fatalf("got %v, want a refusal %s", err, tt.reason)
				}
				filed, _ := st.FiledReplies(ctx, "", 1)
				if len(filed) != 1 || filed[0].Outcome != tt.outcome || !strings.Contains(filed[0].Detail, tt.detail) ||
					filed[0].Source != tt.source || filed[0].Origin != "10.0.0.7" || filed[0].Via != "http" || len(filed[0].Content) == 0 {
					t.Fatalf("filed %+v, want %s with %q", filed, tt.outcome, tt.detail)
				}
				if tt.name == "an invalid message" && (len(r.Problems) != 1 || r.Problems[0].Field != "message" || !strings.Contains(r.Problems[0].Message, "line 2")) {
					t.Fatalf("the XSD problem is not named: %+v", r.Problems)
				}
				if after := status(t, st, "s1"); after != before {
					t.Fatalf("status moved from %s to %s", before, after)
				}
			})
		}
		if n, _ := st.Replies(ctx, "s1"); len(n) != 0 {
			t.Fatalf("replies stored: %+v", n)
		}
		if q := queued(t, st); len(q) != 0 {
			t.Fatalf("queued: %v", q)
		}
	})
}

// The inbox takes zip packages and bare manifests; a reply without an id is known by the
// file's hash, so the same file read again is stored once.
func TestAcceptFile(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st, in := fixture(t, o)
		ctx := context.Background()
		dir := t.TempDir()
		write := func(name string, content []byte) string {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}
		pkg := zipOf(t, entry{name: "reply.json", content: `{"submission_id": "s1", "source": "fv", "kind": "bescheid", "subject": "Bescheid",
			"documents": [{"filename": "bescheid.pdf"}]}`}, entry{name: "bescheid.pdf", content: pdf})
		tests := []struct {
			name    string
			content []byte
			want    string
		}{
			{"bescheid.zip", pkg, replies.OutcomeAccepted},
			{"bescheid-again.zip", pkg, replies.OutcomeDuplicate},
			{"status.json", []byte(`{"prozess_id": "pid-fv-s1", "source": "fv", "kind": "abschluss"}`), replies.OutcomeAccepted},
			{"no-source.json", []byte(`{"submission_id": "s1", "kind": "abschluss"}`), store.FiledMalformed},
			{"unknown.json", []byte(`{"submission_id": "s9", "source": "fv", "kind": "abschluss"}`), store.FiledUnmatched},
			{"broken.zip", []byte("PK\x03\x04 broken"), store.FiledMalformed},
			{"STATUS.JSON", []byte(`{"submission_id": "s2", "source": "fv", "kind": "abschluss"}`), store.FiledUnauthorised},
		}
		for _, tt := range tests {
			got, err := in.AcceptFile(ctx, write(tt.name, tt.content))
			if err != nil || got != tt.want {
				t.Fatalf("%s: %s %v, want %s", tt.name, got, err, tt.want)
			}
		}
		list, _ := st.Replies(ctx, "s1")
		if len(list) != 2 || list[0].Via != "inbox" || !strings.HasPrefix(list[0].ExternalID, "sha256:") || status(t, st, "s1") != store.StatusClosed {
			t.Fatalf("replies %+v, status %s", list, status(t, st, "s1"))
		}
		filed, _ := st.FiledReplies(ctx, "", 10)
		if len(filed) != 4 || filed[0].Origin != "STATUS.JSON" || filed[0].Via != "inbox" || filed[0].Source != "fv" || filed[0].Names != "submission_id=s2" {
			t.Fatalf("filed %+v", filed)
		}
	})
}

// The same reply handed in many times at once is stored once, and every caller gets it.
func TestIntakeConcurrentRepeatsStoreOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st, in := fixture(t, o)
		ctx := context.Background()
		manifest := `{"submission_id": "s1", "id": "B-7", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`
		ids := make([]string, 8)
		incs := make([]*replies.Incoming, len(ids))
		for i := range incs {
			incs[i] = inline(t, manifest, map[string]string{"b.pdf": pdf})
		}
		errs := make(chan error, len(ids))
		done := make(chan struct{})
		for i := range ids {
			go func() {
				defer func() { done <- struct{}{} }()
				acc, err := in.Accept(ctx, incs[i], replies.Origin{Via: replies.ViaHTTP, Source: "fv"})
				if err != nil {
					errs <- err
					return
				}
				ids[i] = acc.Reply.ID
			}()
		}
		for range ids {
			<-done
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids differ: %v", ids)
			}
		}
		if list, _ := st.Replies(ctx, "s1"); len(list) != 1 {
			t.Fatalf("%d replies stored", len(list))
		}
		if q := queued(t, st); len(q) != 1 {
			t.Fatalf("%d queue messages", len(q))
		}
		if events, _ := st.Events(ctx, "s1"); events[len(events)-2].Type == replies.EventReplyReceived {
			t.Fatalf("more than one reply_received event: %+v", events)
		}
	})
}

// FuzzParseManifest: any bytes are a manifest that keeps the rules, or a refusal naming why.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(bescheidManifest), false)
	f.Add([]byte(`{"case_id": "c", "kind": "status", "status": "decided", "documents": [{"filename": "a.pdf", "content_base64": "JVBERi0="}]}`), true)
	f.Add([]byte(`{"submission_id": "s", "kind": "abschluss", "message": {"filename": "../m.xml"}}`), false)
	f.Add([]byte(`{"submission_id": "s", "kind": "bescheid", "documents": [{"filename": "a.pdf"}, {"filename": "A.pdf"}]}`), false)
	f.Add([]byte("\xff{}"), true)
	f.Fuzz(func(t *testing.T, raw []byte, inline bool) {
		m, r := replies.ParseManifest(raw, inline, lim)
		if r != nil {
			if r.Error() == "" || (r.Reason != replies.ReasonBadRequest && r.Reason != replies.ReasonInvalid && r.Reason != replies.ReasonTooLarge) {
				t.Fatalf("refusal %+v", r)
			}
			return
		}
		named := 0
		for _, v := range []string{m.SubmissionID, m.ProzessID, m.CaseID} {
			if v != "" {
				named++
			}
		}
		if _, err := replies.StatusFor(m.Kind, m.Status); err != nil || named != 1 || len(m.Documents) > lim.MaxDocuments {
			t.Fatalf("accepted %+v", m)
		}
		for _, d := range m.Documents {
			if replies.CheckFilename(d.Filename) != nil || (inline && (len(d.Content) == 0 || int64(len(d.Content)) > lim.MaxDocumentBytes)) ||
				(!inline && d.Content != nil) {
				t.Fatalf("accepted document %+v", d)
			}
		}
	})
}
