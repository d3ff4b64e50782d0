package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store"
)

// The store conformance suite: the tests that call eachBackend run on SQLite and on
// PostgreSQL. This file adds what only they share: the durability of a 202, concurrent
// idempotency and the documented ordering (docs/deployment.md).

// A 202 means stored: right after the answer, with nothing processed yet, the submission, its
// attachments and its queue message are in the store, whoever opens it next.
func TestAcceptedIsStored(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Pipeline.PollInterval = time.Hour // nothing is processed
		h := start(t, cfg)
		time.Sleep(50 * time.Millisecond) // the stages took their first (empty) look
		sub := demoSubmission(t)
		r := h.submit(sub, demoToken, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Raw)
		}
		id := r.Body["id"].(string)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.d.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := store.OpenShared(context.Background(), daemon.StoreOptions(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		got, err := st.Submission(context.Background(), id)
		if err != nil || got.Status != store.StatusReceived {
			t.Fatalf("submission after 202: %+v %v", got, err)
		}
		atts, _ := st.Attachments(context.Background(), id)
		if want := len(sub["attachments"].([]any)); len(atts) != want || atts[0].Size == 0 {
			t.Fatalf("%d attachments stored, want %d: %+v", len(atts), want, atts)
		}
		var queued int
		st.DB.QueryRow(`SELECT count(*) FROM "watermill_submissions" WHERE payload = $1`, []byte(id)).Scan(&queued)
		if queued != 1 {
			t.Fatalf("%d queue messages for the submission, want 1", queued)
		}
		// The demo portal has no callback URL: its status changes are not queued for callbacks.
		var callbacks int
		st.DB.QueryRow(`SELECT count(*) FROM "watermill_callbacks"`).Scan(&callbacks)
		if callbacks != 0 {
			t.Fatalf("%d callbacks queued for a portal without a callback URL", callbacks)
		}
	})
}

// Concurrent requests with one Idempotency-Key create one submission; all get its id.
func TestConcurrentIdempotentRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := start(t, backendConfig(t, backend))
		body, _ := json.Marshal(demoSubmission(t))
		ids := make(chan string, 8)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", h.base+"/v1/submissions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+demoToken)
				req.Header.Set("Idempotency-Key", "same-key")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					ids <- "error: " + err.Error()
					return
				}
				defer res.Body.Close()
				var b map[string]any
				json.NewDecoder(res.Body).Decode(&b)
				ids <- fmt.Sprintf("%d %v", res.StatusCode, b["id"])
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[string]int{}
		for id := range ids {
			seen[id]++
		}
		if len(seen) != 1 || h.count("submissions") != 1 {
			t.Fatalf("answers %v, %d submissions; want one submission for all", seen, h.count("submissions"))
		}
	})
}

// Ordering: with one process worker, max_in_flight 1 and no retries, a destination receives
// submissions in the order they were accepted.
func TestDeliveryOrderPerDestination(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Pipeline.ProcessWorkers = 1
		for i := range cfg.Destinations {
			cfg.Destinations[i].MaxInFlight = 1
		}
		h := start(t, cfg)
		var accepted []string
		for i := 0; i < 15; i++ {
			accepted = append(accepted, h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string))
		}
		for _, id := range accepted {
			h.waitStatus(id, "delivered")
		}
		rows, err := h.d.Store().DB.Query(`SELECT submission_id FROM events WHERE type = 'delivered' AND destination = 'eakte' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var delivered []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			delivered = append(delivered, id)
		}
		if fmt.Sprint(delivered) != fmt.Sprint(accepted) {
			t.Fatalf("delivered in order\n%v\nwant\n%v", delivered, accepted)
		}
	})
}
