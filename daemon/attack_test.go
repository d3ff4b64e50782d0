package daemon_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// Hostile or broken requests each get the right 4xx, store nothing, and the daemon keeps
// serving.
func TestAttacksAreRefusedAndStoreNothing(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.MaxBodyBytes = 256 << 10
	cfg.Server.MaxAttachments = 3
	cfg.Server.MaxAttachmentBytes = 8 << 10
	cfg.Server.MaxJSONDepth = 16
	h := start(t, cfg)
	victim := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	before := h.count("submissions")
	sub := func(change func(m map[string]any)) []byte {
		m := demoSubmission(t)
		change(m)
		return mustJSON(t, m)
	}
	att := func(name string, size int) map[string]any {
		return map[string]any{"filename": name, "media_type": "application/pdf",
			"content_base64": base64.StdEncoding.EncodeToString([]byte("%PDF-1.4" + strings.Repeat("x", size)))}
	}
	tests := []struct {
		name, method, path, token string
		body                      []byte
		want                      int
		text                      string
	}{
		{"no token", "POST", "/v1/submissions", "", sub(func(map[string]any) {}), 401, "missing bearer token"},
		{"forged token", "POST", "/v1/submissions", "demo-portal-token ", sub(func(map[string]any) {}), 202, ""}, // trimmed: same portal
		{"token of no portal", "POST", "/v1/submissions", "x' OR '1'='1", sub(func(map[string]any) {}), 401, "unknown portal token"},
		{"other portal reads a submission (IDOR)", "GET", "/v1/submissions/" + victim, otherToken, nil, 404, "not found"},
		{"guessing ids", "GET", "/v1/submissions/../../etc/passwd", demoToken, nil, 404, ""},
		{"oversized body", "POST", "/v1/submissions", demoToken, sub(func(m map[string]any) {
			m["data"].(map[string]any)["x"] = strings.Repeat("A", 300<<10)
		}), 413, "larger than the limit"},
		{"deep JSON", "POST", "/v1/submissions", demoToken, []byte(`{"data":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`), 400, "nested 41 levels deep"},
		{"invalid UTF-8", "POST", "/v1/submissions", demoToken, append(sub(func(map[string]any) {})[:20:20], 0xff, 0xfe, '"', '}'), 400, "not valid UTF-8"},
		{"too many attachments", "POST", "/v1/submissions", demoToken, sub(func(m map[string]any) {
			m["attachments"] = []any{att("a.pdf", 1), att("b.pdf", 1), att("c.pdf", 1), att("d.pdf", 1)}
		}), 400, "more than 3 attachments; the limit is 3"},
		{"attachment too large", "POST", "/v1/submissions", demoToken, sub(func(m map[string]any) {
			m["attachments"] = []any{att("big.pdf", 20<<10)}
		}), 400, "attachments[0].content_base64"},
		{"control characters in a file name are made safe", "POST", "/v1/submissions", demoToken, sub(func(m map[string]any) {
			m["attachments"] = []any{att("../../../etc/cron.d/evil\x00.pdf", 1)}
		}), 202, ""},
		{"method not allowed", "DELETE", "/v1/submissions/" + victim, demoToken, nil, 405, ""},
	}
	stored := before
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.method, tt.path, tt.token, tt.body, nil)
			if r.Status != tt.want || !strings.Contains(r.Raw, tt.text) {
				t.Fatalf("%d %s, want %d with %q", r.Status, r.Raw, tt.want, tt.text)
			}
			if r.Status == http.StatusAccepted {
				stored++
			}
			if n := h.count("submissions"); n != stored {
				t.Fatalf("%d submissions stored, want %d", n, stored)
			}
		})
	}
	var names []string
	rows, _ := h.d.Store().DB.Query(`SELECT package_name FROM attachments`)
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		if strings.ContainsAny(n, "/\\\x00") || strings.Contains(n, "..") {
			t.Errorf("unsafe package name stored: %q", n)
		}
	}
	if r := h.submit(demoSubmission(t), demoToken, nil); r.Status != http.StatusAccepted {
		t.Fatalf("the daemon stopped serving: %d", r.Status)
	}
}

// A portal that sends too fast gets 429 with Retry-After; other portals are not affected.
func TestRateLimitPerPortal(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.RatePerSecond, cfg.Server.RateBurst = 1, 3
	h := start(t, cfg)
	codes := map[int]int{}
	var retryAfter string
	for i := 0; i < 6; i++ {
		r := h.do("GET", "/v1/submissions/00000000-0000-4000-8000-000000000000", demoToken, nil, nil)
		codes[r.Status]++
		if r.Status == http.StatusTooManyRequests {
			retryAfter = r.Header.Get("Retry-After")
		}
	}
	if codes[404] != 3 || codes[429] != 3 || retryAfter == "" {
		t.Fatalf("answers %v, Retry-After %q", codes, retryAfter)
	}
	if r := h.do("GET", "/v1/submissions/00000000-0000-4000-8000-000000000000", otherToken, nil, nil); r.Status != 404 {
		t.Fatalf("another portal was throttled too: %d", r.Status)
	}
}

// An attachment whose content contradicts its declared type is accepted but flagged.
func TestMismatchedMediaTypeIsFlagged(t *testing.T) {
	h := start(t, testConfig(t))
	sub := demoSubmission(t)
	sub["attachments"].([]any)[0].(map[string]any)["media_type"] = "image/png" // it is a PDF
	id := h.submit(sub, demoToken, nil).Body["id"].(string)
	st := h.waitStatus(id, "delivered")
	if !strings.Contains(st.Raw, "attachments[0] is declared image/png but its content looks like application/pdf") {
		t.Fatalf("no flag in the history: %s", st.Raw)
	}
}

// A portal limited to other routes cannot submit to this one.
func TestPortalRouteAllowList(t *testing.T) {
	cfg := testConfig(t)
	cfg.Portals[1].Routes = []string{"hundesteuer"}
	h := start(t, cfg)
	if r := h.submit(demoSubmission(t), otherToken, nil); r.Status != http.StatusForbidden ||
		!strings.Contains(r.Raw, "portal other-portal may not submit to route gewerbeanmeldung") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if n := h.count("submissions"); n != 0 {
		t.Fatalf("%d submissions stored", n)
	}
	if r := h.submit(demoSubmission(t), demoToken, nil); r.Status != http.StatusAccepted {
		t.Fatalf("unrestricted portal: %d", r.Status)
	}
}
