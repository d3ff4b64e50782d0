package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/daemon"
)

// After the retention period the personal data of finished submissions is deleted — form data,
// attachments, messages — while status, deliveries, history and audit trail stay; younger
// submissions and dead letters (until their own period) are not touched.
func TestRetentionPurgesOnlyWhatIsDue(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Retention.Payloads = 30 * 24 * time.Hour
		cfg.Retention.DeadLetters = 90 * 24 * time.Hour
		cfg.Destinations[0].Retry.MaxAttempts = 1
		cfg.Admin.TokenSHA256 = otherHash
		c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		h := start(t, cfg, daemon.WithClock(c.Now))
		old := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(old, "delivered")
		// a dead one: the E-Akte is unusable for the next submission
		os.RemoveAll(h.outDir)
		os.WriteFile(h.outDir, nil, 0o600)
		dead := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(dead, "dead")
		os.Remove(h.outDir)

		c.Set(c.Now().Add(20 * 24 * time.Hour))
		young := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(young, "delivered")

		c.Set(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(31 * 24 * time.Hour))
		n, err := h.d.RunRetention(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("purged %d (%v), want 1", n, err)
		}
		db := h.d.Store().DB
		dataOf := func(id string) (data string, content, xml int) {
			db.QueryRow(`SELECT data FROM submissions WHERE id = $1`, id).Scan(&data)
			db.QueryRow(`SELECT coalesce(sum(length(data)), 0) FROM attachment_chunks WHERE submission_id = $1`, id).Scan(&content)
			db.QueryRow(`SELECT coalesce(sum(length(xml)), 0) FROM messages WHERE submission_id = $1`, id).Scan(&xml)
			return
		}
		if data, content, xml := dataOf(old); data != "{}" || content != 0 || xml != 0 {
			t.Fatalf("old submission not purged: data %q, %d attachment bytes, %d message bytes", data, content, xml)
		}
		for _, id := range []string{young, dead} {
			if data, content, xml := dataOf(id); data == "{}" || content == 0 || xml == 0 {
				t.Fatalf("%s was purged too early", id)
			}
		}
		st := h.do("GET", "/v1/submissions/"+old, demoToken, nil, nil)
		if st.Body["status"] != "delivered" || lastEvent(st)["type"] != "purged" || len(st.Body["deliveries"].([]any)) != 2 {
			t.Fatalf("metadata or history lost: %s", st.Raw)
		}

		c.Set(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(91 * 24 * time.Hour))
		if n, _ := h.d.RunRetention(context.Background()); n != 2 { // the dead letter and the young one
			t.Fatalf("second run purged %d, want 2", n)
		}
		req, _ := http.NewRequest("GET", "http://"+h.d.AdminAddr()+"/v1/audit?since=2026-01-01T00:00:00Z", nil)
		req.Header.Set("Authorization", "Bearer "+otherToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var audit struct {
			Audit []struct{ Actor, Action, Subject string }
		}
		json.NewDecoder(res.Body).Decode(&audit)
		counts := map[string]int{}
		for _, e := range audit.Audit {
			counts[e.Actor+" "+e.Action]++
		}
		if counts["portal:demo-portal submit"] != 3 || counts["system:retention purge"] != 3 {
			t.Fatalf("audit trail: %v", counts)
		}
	})
}
