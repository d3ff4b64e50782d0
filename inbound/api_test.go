package inbound_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/inbound"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/priority"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
)

func newServer(t *testing.T) (*inbound.Server, *store.Store) {
	t.Helper()
	cfg, err := config.Load("../fixtures/demo/amtsbote.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PrepareQueues(context.Background(), []string{pipeline.TopicSubmissions, pipeline.TopicCallbacks}, pipeline.TopicCallbacks); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Close)
	return inbound.NewServer(cfg, st, snap.Acquire, slog.New(slog.NewTextHandler(io.Discard, nil))), st
}

func demoBody(t *testing.T) string {
	raw, err := os.ReadFile("../fixtures/demo/submission.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func post(h http.Handler, body, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/submissions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer demo-portal-token")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// After Drain every request is refused with 503 and a Retry-After, and nothing is stored.
func TestDrainingRefusesWith503(t *testing.T) {
	srv, st := newServer(t)
	h := srv.Handler()
	srv.Drain()
	rec := post(h, demoBody(t), "")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
	var n int
	st.DB.QueryRow(`SELECT count(*) FROM submissions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d submissions stored while draining", n)
	}
}

// Many identical requests with one Idempotency-Key at the same moment create one submission,
// and every one of them is answered with its id.
func TestConcurrentIdempotentRequestsCreateOneSubmission(t *testing.T) {
	srv, st := newServer(t)
	h := srv.Handler()
	body := demoBody(t)
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := post(h, body, "same-key")
			if rec.Code != http.StatusAccepted {
				t.Errorf("request %d: %d %s", i, rec.Code, rec.Body)
				return
			}
			var r struct{ ID string }
			json.Unmarshal(rec.Body.Bytes(), &r)
			ids[i] = r.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids differ: %v", ids)
		}
	}
	var n, queued int
	st.DB.QueryRow(`SELECT count(*) FROM submissions`).Scan(&n)
	st.DB.QueryRow(`SELECT count(*) FROM ` + queue.Table(pipeline.TopicSubmissions)).Scan(&queued)
	if n != 1 || queued != 1 {
		t.Fatalf("%d submissions and %d queue messages, want 1 and 1", n, queued)
	}
}

// A submission counts as intake in flight (Priority) from its authentication until it is
// answered; other requests, and requests without a valid token, do not count.
func TestSubmissionsCountAsIntakeInFlight(t *testing.T) {
	srv, _ := newServer(t)
	srv.Priority = priority.New(1, nil)
	h := srv.Handler()
	body := demoBody(t)
	tests := []struct {
		name, method, path, token string
		counts                    bool
	}{
		{"submission", "POST", "/v1/submissions", "demo-portal-token", true},
		{"unknown token", "POST", "/v1/submissions", "wrong", false},
		{"status query", "GET", "/v1/submissions/nope", "demo-portal-token", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			req := httptest.NewRequest(tc.method, tc.path, pr)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			done := make(chan int, 1)
			go func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				done <- rec.Code
			}()
			// Once the handler has read half the body, it is in flight. A request refused
			// early reads nothing: its body is written on the side.
			first, rest := body[:len(body)/2], body[len(body)/2:]
			if tc.counts {
				if _, err := pw.Write([]byte(first)); err != nil {
					t.Fatal(err)
				}
				first = ""
			}
			if busy := srv.Priority.Busy(); busy != tc.counts {
				t.Fatalf("in flight: busy = %v, want %v", busy, tc.counts)
			}
			go func() {
				pw.Write([]byte(first + rest))
				pw.Close()
			}()
			code := <-done
			pr.Close()
			if srv.Priority.Busy() {
				t.Fatalf("still counted after the answer %d", code)
			}
			if tc.counts && code != http.StatusAccepted {
				t.Fatalf("answer %d", code)
			}
		})
	}
}
