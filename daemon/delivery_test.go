package daemon_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/daemon"
)

// A destination that stays down does not slow the other one: all its deliveries go through
// while the first keeps failing.
func TestDownDestinationDoesNotDelayTheOther(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Destinations[0].Retry.InitialInterval = time.Hour // eakte: long backoff, as at night
		cfg.Destinations[0].Retry.MaxInterval = time.Hour
		h := start(t, cfg)
		os.WriteFile(h.outDir, nil, 0o600) // eakte is down
		var ids []string
		for i := 0; i < 20; i++ {
			ids = append(ids, h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string))
		}
		deadline := time.Now().Add(15 * time.Second)
		for _, id := range ids {
			for {
				r := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
				if len(r.Body["deliveries"].([]any)) == 2 && delivery(t, r, "gewerbe-fachverfahren")["status"] == "delivered" {
					if e := delivery(t, r, "eakte"); e["status"] != "pending" {
						t.Fatalf("eakte delivery = %v", e)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the Fachverfahren did not get %s while the E-Akte was down: %s", id, r.Raw)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		zips, _ := filepath.Glob(filepath.Join(h.fvDir, "*.zip"))
		if len(zips) != 20 {
			t.Fatalf("%d Fachverfahren packages, want 20", len(zips))
		}
	})
}

// The backoff schedule is stored: after a restart the next attempt stays where it was.
func TestRestartKeepsTheBackoffSchedule(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Destinations[0].Retry.InitialInterval = 2 * time.Second
		cfg.Destinations[0].Retry.MaxInterval = 2 * time.Second
		h := start(t, cfg)
		os.WriteFile(h.outDir, nil, 0o600)
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitAttempts(id, 1)
		before := delivery(t, h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil), "eakte")["next_attempt_at"].(string)
		h.d.Shutdown(t.Context())
		os.Remove(h.outDir) // the destination is back, but the schedule says when to try

		h2 := start(t, cfg)
		r := h2.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
		d := delivery(t, r, "eakte")
		if d["next_attempt_at"] != before || d["attempts"].(float64) != 1 {
			t.Fatalf("after restart: next attempt %v (was %v), attempts %v", d["next_attempt_at"], before, d["attempts"])
		}
		st := h2.waitStatus(id, "delivered")
		next, _ := time.Parse(time.RFC3339Nano, before)
		deliveredAt, _ := time.Parse(time.RFC3339Nano, delivery(t, st, "eakte")["updated_at"].(string))
		if deliveredAt.Before(next) {
			t.Fatalf("delivered at %v, before the scheduled %v", deliveredAt, next)
		}
	})
}

// Dead letters are listed with their last error, shown with every attempt, and replayed with the
// same message id; the replay is recorded with who asked.
func TestDeadLettersReplayOverTheAdminAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Destinations[0].Retry.MaxAttempts = 2
		cfg.Admin.Listen = "127.0.0.1:0"
		cfg.Admin.TokenSHA256 = otherHash // token "other-portal-token" doubles as admin token here
		h := start(t, cfg)
		os.WriteFile(h.outDir, nil, 0o600)
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		st := h.waitStatus(id, "dead")
		var messageID string
		for _, e := range st.Body["events"].([]any) {
			if ev := e.(map[string]any); ev["type"] == "mapped" && ev["destination"] == "eakte" {
				messageID = strings.Fields(ev["detail"].(string))[1]
			}
		}
		adminDo := func(method, path string, token string) (int, map[string]any) {
			req, _ := http.NewRequest(method, "http://"+h.d.AdminAddr()+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("X-Amtsbote-Actor", "ops-anna")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			json.NewDecoder(res.Body).Decode(&body)
			return res.StatusCode, body
		}
		if code, _ := adminDo("GET", "/v1/dead-letters", demoToken); code != 401 {
			t.Fatalf("a portal token on the admin API: %d, want 401", code)
		}
		code, body := adminDo("GET", "/v1/dead-letters?destination=eakte", otherToken)
		list := body["dead_letters"].([]any)
		if code != 200 || len(list) != 1 || list[0].(map[string]any)["message_id"] != messageID ||
			!strings.Contains(list[0].(map[string]any)["last_error"].(string), "not a directory") {
			t.Fatalf("list: %d %v", code, body)
		}
		code, body = adminDo("GET", "/v1/dead-letters/"+id+"/eakte", otherToken)
		attempts := 0
		for _, e := range body["history"].([]any) {
			if ev := e.(map[string]any); ev["Type"] == "delivery_failed" || ev["Type"] == "dead" {
				attempts++
			}
		}
		if code != 200 || attempts != 2 {
			t.Fatalf("show: %d, %d attempts in history: %v", code, attempts, body)
		}
		os.Remove(h.outDir)
		if code, body := adminDo("POST", "/v1/dead-letters/"+id+"/eakte/replay", otherToken); code != 202 {
			t.Fatalf("replay: %d %v", code, body)
		}
		h.waitStatus(id, "delivered")
		if _, err := os.Stat(filepath.Join(h.outDir, messageID+"_Geschaeftsgang.Geschaeftsgang.0201.zip")); err != nil {
			t.Fatalf("replay did not deliver the same message id: %v", err)
		}
		found := false
		st = h.detail(id)
		for _, e := range st.Body["events"].([]any) {
			if ev := e.(map[string]any); ev["type"] == "replayed" && ev["detail"] == "replayed by admin-api:ops-anna" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no replay event: %s", st.Raw)
		}
		if code, _ := adminDo("POST", "/v1/dead-letters/"+id+"/eakte/replay", otherToken); code != 404 {
			t.Fatalf("replaying a delivered message: %d, want 404", code)
		}
	})
}

// clock is a settable clock for schedule tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func countZips(t *testing.T, dir string) int {
	t.Helper()
	zips, _ := filepath.Glob(filepath.Join(dir, "*.zip"))
	return len(zips)
}

// A destination with a delivery window receives nothing outside it and everything once it opens.
func TestDeliveryWindow(t *testing.T) {
	cfg := testConfig(t)
	cfg.Destinations[0].Window = "* 22-23,0-5 * * *" // 22:00–05:59
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.Local)}
	h := start(t, cfg, daemon.WithClock(c.Now))
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
		if len(r.Body["deliveries"].([]any)) == 2 && delivery(t, r, "gewerbe-fachverfahren")["status"] == "delivered" &&
			strings.Contains(string(mustJSON(t, r.Body["events"])), "outside the delivery window") {
			if d := delivery(t, r, "eakte"); d["status"] != "pending" || d["attempts"].(float64) != 0 {
				t.Fatalf("eakte outside its window: %v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not scheduled for the window: %s", r.Raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := countZips(t, h.outDir); n != 0 {
		t.Fatalf("%d packages delivered outside the window", n)
	}
	c.Set(time.Date(2026, 12, 1, 22, 0, 30, 0, time.Local))
	h.waitStatus(id, "delivered")
}

// A batch destination collects messages and delivers them together at the batch time.
func TestBatchDelivery(t *testing.T) {
	cfg := testConfig(t)
	cfg.Destinations[0].Batch = "0 2 * * *" // 02:00 every day
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.Local)}
	h := start(t, cfg, daemon.WithClock(c.Now))
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for !bytes.Contains([]byte(h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil).Raw), []byte("collected for the batch")) {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not collected for the batch", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := countZips(t, h.outDir); n != 0 {
		t.Fatalf("%d packages delivered before the batch time", n)
	}
	c.Set(time.Date(2026, 12, 2, 2, 0, 5, 0, time.Local))
	for _, id := range ids {
		h.waitStatus(id, "delivered")
	}
	if n := countZips(t, h.outDir); n != 3 {
		t.Fatalf("%d packages after the batch, want 3", n)
	}
}

// A long outage with a backlog costs nothing per queued message: while the circuit is open the
// handlers wait instead of rescheduling every message again, and the backlog drains when the
// destination returns.
func TestOutageWithBacklogDoesNotChurn(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Destinations[0].Breaker.Failures = 3
		cfg.Destinations[0].Breaker.Pause = 400 * time.Millisecond
		cfg.Destinations[0].Retry.InitialInterval = 10 * time.Millisecond
		cfg.Destinations[0].Retry.MaxInterval = 10 * time.Millisecond
		h := start(t, cfg)
		os.WriteFile(h.outDir, nil, 0o600) // eakte is down
		var ids []string
		for i := 0; i < 40; i++ {
			ids = append(ids, h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string))
		}
		time.Sleep(2 * time.Second) // five pauses of the breaker
		// Every reschedule queues the message anew: the newest queue row's offset counts them.
		var queued int
		h.d.Store().DB.QueryRow(`SELECT coalesce(max("offset"), 0) FROM "watermill_deliver_eakte"`).Scan(&queued)
		// Without waiting, every one of the 40 messages would be taken and put back every pause
		// (200 and more). Waiting, what comes on top is the attempts before the circuit opens
		// (up to failures + max_in_flight) and one probe per pause.
		if queued > 40+20 {
			t.Fatalf("%d queue messages for 40 deliveries during the outage: the queue churns", queued)
		}
		os.Remove(h.outDir)
		for _, id := range ids {
			h.waitStatus(id, "delivered")
		}
		t.Logf("%d queue messages for 40 deliveries during a 2 s outage", queued)
	})
}
