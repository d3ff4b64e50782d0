package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
)

// Every status change reaches the portal's callback URL, signed; a portal that answers 500
// gets the change again later.
func TestPortalCallbacks(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		secret := "0123456789abcdef-secret"
		var mu sync.Mutex
		var statuses []string
		failures := 2
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			err := callbacks.Verify([]byte(secret), r.Header.Get(callbacks.TimestampHeader), r.Header.Get(callbacks.SignatureHeader),
				body, time.Now(), 5*time.Minute)
			if err != nil {
				t.Errorf("callback signature: %v", err)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if failures > 0 {
				failures--
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			var b struct{ Status, ID string }
			json.Unmarshal(body, &b)
			statuses = append(statuses, b.Status)
		}))
		defer srv.Close()
		cfg := backendConfig(t, backend)
		cfg.Portals[0].CallbackURL = srv.URL + "/hook"
		cfg.Portals[0].CallbackSecret = secret
		cfg.Pipeline.CallbackRetry = config.Retry{MaxAttempts: 10, InitialInterval: 20 * time.Millisecond,
			MaxInterval: 50 * time.Millisecond, Multiplier: 2, MaxAge: time.Hour}
		h := start(t, cfg)
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(id, "delivered")
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := map[string]bool{}
			for _, s := range statuses {
				got[s] = true
			}
			n := len(statuses)
			mu.Unlock()
			if got["received"] && got["processing"] && got["delivered"] {
				if n != 3 {
					t.Fatalf("statuses told %d times: %v", n, statuses)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("callbacks received: %v", statuses)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// A portal's callback endpoint cannot point amtsbote elsewhere: a redirect is a failed callback
// (the signed body goes to no other address), and the credentials in a callback URL appear in
// neither the log nor the history.
func TestCallbacksFollowNoRedirectsAndHideCredentials(t *testing.T) {
	var elsewhere atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer internal.Close()
	var asked atomic.Int64
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, internal.URL+"/admin/reset", http.StatusTemporaryRedirect)
	}))
	defer portal.Close()
	const password = "pw-Sup3rSecret"
	cfg := testConfig(t)
	cfg.Portals[0].CallbackURL = strings.Replace(portal.URL, "http://", "http://hook:"+password+"@", 1) + "/hook"
	cfg.Portals[0].CallbackSecret = "0123456789abcdef-secret"
	cfg.Pipeline.CallbackRetry = config.Retry{MaxAttempts: 2, InitialInterval: 10 * time.Millisecond,
		MaxInterval: 10 * time.Millisecond, Multiplier: 1, MaxAge: time.Hour}
	var logs lockedBuffer
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, d: d, cfg: cfg, base: "http://" + d.Addr()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "delivered")
	deadline := time.Now().Add(10 * time.Second)
	for count(eventTypes(h.detail(id)), "callback_failed") < 3 { // received, processing, delivered
		if time.Now().After(deadline) {
			t.Fatalf("callbacks not given up: %s", h.detail(id).Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if asked.Load() == 0 || elsewhere.Load() != 0 {
		t.Fatalf("portal asked %d times, redirect target %d times; want it never followed", asked.Load(), elsewhere.Load())
	}
	if strings.Contains(h.detail(id).Raw, password) || strings.Contains(logs.String(), password) {
		t.Fatalf("the callback URL's password is in the history or the log:\n%s", logs.String())
	}
	if !strings.Contains(h.detail(id).Raw, "307") {
		t.Fatalf("the history does not say why: %s", h.detail(id).Raw)
	}
}

// lockedBuffer is a log sink several goroutines write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
