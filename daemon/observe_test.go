package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/daemon"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Health, readiness and metrics are on the admin listener; dead letters and pprof need the
// admin token.
func TestHealthReadinessAndMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admin.TokenSHA256 = ""
	h := start(t, cfg)
	admin := "http://" + h.d.AdminAddr()
	if code, body := get(t, admin+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body := get(t, admin+"/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("readyz: %d %s", code, body)
	}
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.submit(demoSubmission(t), "wrong-token", nil)
	h.waitStatus(id, "delivered")
	_, body := get(t, admin+"/metrics")
	for _, want := range []string{
		`amtsbote_submissions_accepted_total{portal="demo-portal",route="gewerbeanmeldung"} 1`,
		`amtsbote_submissions_rejected_total{portal="",reason="unauthorized"} 1`,
		`amtsbote_delivery_attempts_total{destination="eakte",outcome="delivered"} 1`,
		`amtsbote_stage_duration_seconds_count{stage="process"}`,
		`amtsbote_queue_depth{queue="submissions"} 0`,
		`amtsbote_queue_oldest_age_seconds{queue="deliver_eakte"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, path := range []string{"/v1/dead-letters", "/v1/submissions/" + id, "/debug/pprof/"} {
		if code, _ := get(t, admin+path); code != http.StatusForbidden {
			t.Errorf("%s without an admin token configured: %d, want 403", path, code)
		}
	}
}

// safeBuffer collects log output from several goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *safeBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// No form content, personal data or token reaches the logs, even at debug level and when a
// submission fails.
func TestLogsCarryNoPersonalData(t *testing.T) {
	cfg := testConfig(t)
	var logs safeBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, d: d, cfg: cfg, base: "http://" + d.Addr()}
	markers := []string{"MARKERVORNAME", "MARKERNACHNAME", "MARKERSTRASSE", "MARKERFIRMA", "MARKERINHALT", "MARKERDATUM"}
	sub := demoSubmission(t)
	data := sub["data"].(map[string]any)
	inhaber := data["inhaber"].(map[string]any)
	inhaber["vorname"], inhaber["nachname"] = markers[0], markers[1]
	inhaber["anschrift"].(map[string]any)["strasse"] = markers[2]
	data["betrieb"].(map[string]any)["name"] = markers[3]
	sub["attachments"].([]any)[0].(map[string]any)["content_base64"] = base64.StdEncoding.EncodeToString([]byte(markers[4]))
	id := h.submit(sub, demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "delivered")
	bad := demoSubmission(t)
	bad["data"].(map[string]any)["betrieb"].(map[string]any)["beginn"] = markers[5]
	badID := h.submit(bad, demoToken, nil).Body["id"].(string)
	h.waitStatus(badID, "failed")
	h.submit(sub, "MARKERTOKEN", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Shutdown(ctx)
	out := logs.String()
	if !strings.Contains(out, id) {
		t.Fatal("the logs do not mention the submission at all; the test would prove nothing")
	}
	for _, m := range append(markers, "MARKERTOKEN", "demo-portal-token") {
		if strings.Contains(out, m) {
			t.Errorf("the logs contain %s", m)
		}
	}
	// Every line about a submission names it and its route.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			t.Fatalf("not a JSON log line: %s", line)
		}
		if sid, ok := rec["submission_id"].(string); ok && sid != "" {
			if route, _ := rec["route"].(string); route == "" {
				t.Errorf("a line about submission %s has no route: %s", sid, line)
			}
		}
	}
}
