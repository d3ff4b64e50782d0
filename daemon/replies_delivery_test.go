package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

// replyPDF is the content of a reply's document.
func replyPDF(replyID string) []byte {
	return []byte("%PDF-1.7\n% Bescheid zu " + replyID + "\n" + string(bytes.Repeat([]byte("0"), 2048)) + "\n%%EOF\n")
}

// storeReply stores a reply (with one PDF when withDoc) to a submission as the reply intake
// does — the reply, its status advance and its planning message in one transaction.
func storeReply(t testing.TB, st *store.Store, subID, replyID, kind string, withDoc bool) {
	t.Helper()
	ctx := context.Background()
	status, err := replies.StatusFor(kind, store.StatusInProgress)
	if err != nil {
		t.Fatal(err)
	}
	var docs []store.ReplyDocument
	if withDoc {
		docs = []store.ReplyDocument{{Seq: 0, Name: "bescheid.pdf", MediaType: "application/pdf", Content: bytes.NewReader(replyPDF(replyID))}}
	}
	now := time.Now()
	if err := st.InTx(ctx, func(tx wmsql.Tx) error {
		if err := store.InsertReply(ctx, tx, store.Reply{ID: replyID, SubmissionID: subID, Source: "gewerbe-fachverfahren",
			Via: "http", Kind: kind, Status: status, Subject: "Ihre Gewerbeanmeldung", Text: "Anbei der Bescheid.",
			ReceivedAt: now}, docs); err != nil {
			return err
		}
		if _, err := store.AdvanceStatus(ctx, tx, subID, status, now); err != nil {
			return err
		}
		return pipeline.Publish(tx, store.TopicReplies, pipeline.NewWork(ctx, replyID, time.Time{}))
	}); err != nil {
		t.Fatal(err)
	}
}

// waitReply waits until every delivery of a reply is sent or dead and there are want of them.
func waitReply(t testing.TB, st *store.Store, replyID string, want int) map[string]store.ReplyDelivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := st.ReplyDeliveries(context.Background(), replyID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]store.ReplyDelivery{}
		done := len(ds) == want
		for _, d := range ds {
			out[d.Channel] = d
			done = done && d.Status != store.ReplyPending
		}
		if done {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("reply %s: deliveries %+v, want %d sent or dead", replyID, ds, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// printConfig adds a print service (a filedrop) as replies.print_destination.
func printConfig(t testing.TB, cfg *config.Config) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "druck")
	cfg.Destinations = append(cfg.Destinations, config.Destination{ID: "druck", Type: "filedrop", Options: map[string]any{"path": dir},
		MaxInFlight: 1, Retry: cfg.Destinations[0].Retry, Breaker: cfg.Destinations[0].Breaker})
	cfg.Replies.PrintDestination = "druck"
	cfg.Replies.Retry = config.Retry{MaxAttempts: 2, InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
		Multiplier: 2, MaxAge: time.Hour}
	return dir
}

// withReplyPolicy points the configuration at a copy of the demo routes whose
// gewerbeanmeldung route has the reply policy given (a YAML flow mapping).
func withReplyPolicy(t testing.TB, cfg *config.Config, policy string) {
	t.Helper()
	cfg.RoutesFile = replyRoutes(t, policy)
}

// replyRoutes writes a copy of the demo routes whose gewerbeanmeldung route has the reply
// policy given, beside links to the demo's mappings, schemas and labels, and returns its path.
func replyRoutes(t testing.TB, policy string) string {
	t.Helper()
	demo, err := filepath.Abs("../fixtures/demo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	entries, _ := os.ReadDir(demo)
	for _, e := range entries {
		if e.Name() != "routes.yaml" {
			if err := os.Symlink(filepath.Join(demo, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(demo, "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Replace(raw, []byte("  - id: gewerbeanmeldung\n"), []byte("  - id: gewerbeanmeldung\n    replies: "+policy+"\n"), 1)
	if bytes.Equal(out, raw) {
		t.Fatal("the demo routes have no gewerbeanmeldung route")
	}
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "routes.yaml")
}

// A reply to a portal's submission goes to the print service (a zip with the PDF and the cover
// sheet) and, the portal having a postbox, to the portal as a signed reply event. Operators see
// the reply deliveries in the submission's view; a reply dead on print is listed and, replayed
// through the admin API, printed.
func TestRepliesReachPrintAndPortal(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		secret := "0123456789abcdef-secret"
		var mu sync.Mutex
		events := map[string]int{}
		var lastEvent map[string]any
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := callbacks.Verify([]byte(secret), r.Header.Get(callbacks.TimestampHeader), r.Header.Get(callbacks.SignatureHeader),
				body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("callback signature: %v", err)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Header.Get(callbacks.EventTypeHeader) != callbacks.EventReply {
				return // a status callback
			}
			mu.Lock()
			defer mu.Unlock()
			events[r.Header.Get(callbacks.EventIDHeader)]++
			json.Unmarshal(body, &lastEvent)
		}))
		defer srv.Close()
		cfg := backendConfig(t, backend)
		printDir := printConfig(t, cfg)
		cfg.Portals[0].Postbox = true
		cfg.Portals[0].CallbackURL = srv.URL + "/hook"
		cfg.Portals[0].CallbackSecret = secret
		withReplyPolicy(t, cfg, "{channels: [email, print]}") // paper unless by e-mail; the postbox as well
		h := start(t, cfg)
		st := h.d.Store()
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(id, "delivered")

		storeReply(t, st, id, "reply-1", replies.KindBescheid, true)
		got := waitReply(t, st, "reply-1", 2)
		if got["print"].Status != store.ReplySent || got["portal"].Status != store.ReplySent {
			t.Fatalf("deliveries: %+v", got)
		}
		zr, err := zip.OpenReader(filepath.Join(printDir, "reply-1_reply_bescheid.zip"))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		for _, f := range zr.File {
			rc, _ := f.Open()
			files[f.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
		zr.Close()
		var cover replies.CoverSheet
		if err := json.Unmarshal(files["reply-1_reply_bescheid.json"], &cover); err != nil {
			t.Fatalf("cover sheet: %v", err)
		}
		if !bytes.Equal(files["bescheid.pdf"], replyPDF("reply-1")) || len(files) != 2 {
			t.Fatalf("print package holds %d files", len(files))
		}
		if cover.ReplyID != "reply-1" || cover.SubmissionID != id || cover.Reference != "DEMO-2026-000001" ||
			cover.Kind != "bescheid" || cover.Status != "decided" || cover.Leistung != "99050012104000" ||
			len(cover.Documents) != 1 || cover.Documents[0].File != "bescheid.pdf" || len(cover.Documents[0].SHA256) != 64 {
			t.Fatalf("cover sheet: %+v", cover)
		}
		mu.Lock()
		if events["reply-1"] != 1 || lastEvent["reply_id"] != "reply-1" || lastEvent["status"] != "decided" ||
			lastEvent["links"].(map[string]any)["replies"] != "/v1/submissions/"+id+"/replies" {
			t.Fatalf("reply events %v, last %v", events, lastEvent)
		}
		mu.Unlock()
		if s := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil).Body["status"]; s != "decided" {
			t.Fatalf("status %v, want decided", s)
		}
		view := h.detail(id).Body
		if rd := view["reply_deliveries"].([]any); len(rd) != 2 || rd[0].(map[string]any)["channel"] != "portal" ||
			rd[1].(map[string]any)["artefact"] == "" {
			t.Fatalf("reply deliveries in the admin view: %v", rd)
		}

		// The print service's directory is unusable: dead after two attempts.
		os.RemoveAll(printDir)
		os.WriteFile(printDir, nil, 0o600)
		storeReply(t, st, id, "reply-2", replies.KindAbschluss, true)
		if d := waitReply(t, st, "reply-2", 2)["print"]; d.Status != store.ReplyDead || d.Attempts != 2 {
			t.Fatalf("print delivery: %+v", d)
		}
		dead := h.admin("GET", "/v1/replies/dead")
		list := dead.Body["dead_replies"].([]any)
		if dead.Status != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["reply_id"] != "reply-2" ||
			list[0].(map[string]any)["channel"] != "print" || list[0].(map[string]any)["submission_id"] != id {
			t.Fatalf("dead replies: %d %s", dead.Status, dead.Raw)
		}
		if m := h.admin("GET", "/metrics").Raw; !strings.Contains(m, `amtsbote_reply_dead_letters{channel="print"} 1`) {
			t.Errorf("metrics lack the dead reply")
		}
		os.Remove(printDir)
		if r := h.admin("POST", "/v1/replies/reply-2/channels/print/replay"); r.Status != http.StatusAccepted {
			t.Fatalf("replay: %d %s", r.Status, r.Raw)
		}
		if d := waitReply(t, st, "reply-2", 2)["print"]; d.Status != store.ReplySent {
			t.Fatalf("after replay: %+v", d)
		}
		if _, err := os.Stat(filepath.Join(printDir, "reply-2_reply_abschluss.zip")); err != nil {
			t.Fatal(err)
		}
		if r := h.admin("POST", "/v1/replies/reply-2/channels/print/replay"); r.Status != http.StatusNotFound {
			t.Fatalf("replay of a sent reply: %d %s", r.Status, r.Raw)
		}
		if r := h.admin("GET", "/v1/audit"); !bytes.Contains([]byte(r.Raw), []byte(`"subject": "reply-2/print"`)) {
			t.Fatalf("audit: %s", r.Raw)
		}
		mu.Lock()
		defer mu.Unlock()
		if events["reply-2"] != 1 {
			t.Fatalf("reply events: %v", events)
		}
		metrics := h.admin("GET", "/metrics").Raw
		for _, want := range []string{`amtsbote_reply_deliveries_total{channel="print",outcome="sent"} 2`,
			`amtsbote_reply_deliveries_total{channel="print",outcome="failed"} 1`,
			`amtsbote_reply_deliveries_total{channel="print",outcome="dead"} 1`,
			`amtsbote_reply_deliveries_total{channel="portal",outcome="sent"} 2`,
			`amtsbote_queue_depth{queue="reply_print"} 0`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// A reply to a submission of a portal without a postbox, with no print service, reaches no one:
// dead on channel none, with the reason, for operators; a status update without documents is
// not printed.
func TestReplyNoChannel(t *testing.T) {
	cfg := testConfig(t)
	printConfig(t, cfg)
	h := start(t, cfg)
	st := h.d.Store()
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "delivered")
	storeReply(t, st, id, "status-1", replies.KindNachforderung, false)
	if d := waitReply(t, st, "status-1", 1)["print"]; d.Status != store.ReplySent {
		t.Fatalf("a Nachforderung without documents: %+v", d)
	}
	ctx := context.Background()
	if err := st.InTx(ctx, func(tx wmsql.Tx) error {
		if err := store.InsertReply(ctx, tx, store.Reply{ID: "status-2", SubmissionID: id, Source: "gewerbe-fachverfahren", Via: "http",
			Kind: replies.KindStatus, Status: store.StatusInProgress, ReceivedAt: time.Now()}, nil); err != nil {
			return err
		}
		return pipeline.Publish(tx, store.TopicReplies, pipeline.NewWork(ctx, "status-2", time.Time{}))
	}); err != nil {
		t.Fatal(err)
	}
	d := waitReply(t, st, "status-2", 1)[store.ChannelNone]
	if d.Status != store.ReplyDead || d.LastError != "no channel reaches the applicant" {
		t.Fatalf("status update: %+v", d)
	}
	r := h.admin("GET", "/v1/replies/dead?channel=none")
	if list := r.Body["dead_replies"].([]any); len(list) != 1 || list[0].(map[string]any)["last_error"] != "no channel reaches the applicant" {
		t.Fatalf("dead replies: %s", r.Raw)
	}
	portal := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
	for _, e := range portal.Body["events"].([]any) {
		if e := e.(map[string]any); e["type"] == "reply_dead" && e["detail"] != "a reply could not be sent; an operator has to look at it" {
			t.Fatalf("the portal sees %v", e)
		}
	}
	if n := h.count("reply_deliveries"); n != 2 {
		t.Fatalf("%d reply deliveries", n)
	}
}
