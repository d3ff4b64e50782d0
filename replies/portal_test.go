package replies_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/replies"
)

// A portal with a postbox gets a signed reply event at its callback URL: the reply's id, kind,
// status and where to fetch it, nothing of its text, documents or the applicant.
func TestPortalReplyEvent(t *testing.T) {
	const secret = "0123456789abcdef-portal-secret"
	var mu sync.Mutex
	var bodies [][]byte
	var headers []http.Header
	answer := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := callbacks.Verify([]byte(secret), r.Header.Get(callbacks.TimestampHeader), r.Header.Get(callbacks.SignatureHeader),
			body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("reply event signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		bodies, headers = append(bodies, body), append(headers, r.Header.Clone())
		w.WriteHeader(answer)
	}))
	defer srv.Close()
	portals := map[string]config.Portal{
		"with-callback": {ID: "with-callback", Postbox: true, CallbackURL: srv.URL + "/hook", CallbackSecret: secret},
		"no-callback":   {ID: "no-callback", Postbox: true},
		"no-postbox":    {ID: "no-postbox", CallbackURL: srv.URL + "/hook", CallbackSecret: secret},
	}
	s := &replies.PortalSender{Portal: func(id string) (config.Portal, bool) { p, ok := portals[id]; return p, ok }}
	send := func(portal string) (string, error) {
		o := printReply(doc(0, "bescheid.pdf", []byte("%PDF-1.7")))
		o.Portal = portal
		return s.Send(context.Background(), o)
	}

	artefact, err := send("with-callback")
	if err != nil || !strings.Contains(artefact, srv.URL+"/hook") {
		t.Fatalf("send: %q %v", artefact, err)
	}
	mu.Lock()
	if len(bodies) != 1 {
		t.Fatalf("%d events received", len(bodies))
	}
	var ev map[string]any
	if err := json.Unmarshal(bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	h := headers[0]
	mu.Unlock()
	o := printReply()
	want := map[string]any{"event": "reply", "id": o.SubmissionID, "reference": "DEMO-2026-000001", "reply_id": o.ReplyID,
		"kind": "bescheid", "status": "decided", "at": "2026-12-02T09:30:00Z",
		"links": map[string]any{"replies": "/v1/submissions/" + o.SubmissionID + "/replies"}}
	if got, _ := json.Marshal(ev); string(got) != string(mustJSON(want)) {
		t.Fatalf("event %s,\nwant %s", got, mustJSON(want))
	}
	if h.Get(callbacks.EventIDHeader) != o.ReplyID || h.Get(callbacks.EventTypeHeader) != "reply" {
		t.Fatalf("headers: %v", h)
	}
	for _, secretish := range []string{"Anbei", "Gewerbeanmeldung", "erika", "Mustermann", "bescheid.pdf"} {
		if strings.Contains(string(mustJSON(ev)), secretish) {
			t.Fatalf("the event carries %q", secretish)
		}
	}

	tests := []struct {
		name, portal string
		answer       int
		permanent    bool
		errText      string
		artefact     string
	}{
		{"portal answers 500: retried", "with-callback", http.StatusInternalServerError, false, "answered 500", ""},
		{"redirect: retried, not followed", "with-callback", http.StatusFound, false, "follow no redirects", ""},
		{"no callback: in the postbox", "no-callback", 0, false, "", "postbox of no-callback"},
		{"no postbox", "no-postbox", 0, true, "has no postbox", ""},
		{"unknown portal", "gone", 0, true, "no longer configured", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			answer = tt.answer
			mu.Unlock()
			artefact, err := send(tt.portal)
			if tt.errText == "" {
				if err != nil || !strings.Contains(artefact, tt.artefact) {
					t.Fatalf("%q %v, want artefact %q", artefact, err, tt.artefact)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errText) || adapters.IsPermanent(err) != tt.permanent {
				t.Fatalf("error %v, want %q (permanent %v)", err, tt.errText, tt.permanent)
			}
		})
	}
}
