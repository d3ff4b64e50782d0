package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/config"
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
