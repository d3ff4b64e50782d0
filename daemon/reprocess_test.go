package daemon_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/store/storetest"
)

// Submissions that failed against a too-strict JSON Schema are reprocessed over the admin API
// after the schema was fixed and the route renamed: both are routed again (to the renamed
// route), mapped, validated and delivered; the earlier failure stays in their history, and the
// reprocess is in the history and the audit trail with who asked. A reprocess while the fault
// is still there fails again, visibly.
func TestReprocessAfterAFix(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		dir := demoCopy(t)
		cfgFile := filepath.Join(dir, "amtsbote.yaml")
		if backend == "postgres" {
			replaceIn(t, cfgFile, "storage: {", "storage: {driver: postgres, dsn: \""+storetest.Postgres(t)+"\", ")
		}
		schema := filepath.Join(dir, "schemas/gewerbeanmeldung.schema.json")
		replaceIn(t, schema, `"required": ["inhaber", "betrieb"]`, `"required": ["inhaber", "betrieb", "zusatz"]`)
		h := startFile(t, cfgFile)
		var ids []string
		for range 2 {
			ids = append(ids, h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string))
		}
		for _, id := range ids {
			h.waitStatus(id, "failed")
		}

		adminAPI := *h
		adminAPI.base = "http://" + h.d.AdminAddr()
		adminDo := func(method, path string) response {
			return adminAPI.do(method, path, adminToken, nil, map[string]string{"X-Amtsbote-Actor": "ops-anna"})
		}
		// Still broken: the reprocess fails again, and says so.
		if r := adminDo("POST", "/v1/submissions/"+ids[0]+"/reprocess"); r.Status != http.StatusAccepted {
			t.Fatalf("reprocess one: %d %s", r.Status, r.Raw)
		}
		waitEvents(t, h, ids[0], "validation_failed", 2)

		replaceIn(t, schema, `"required": ["inhaber", "betrieb", "zusatz"]`, `"required": ["inhaber", "betrieb"]`)
		replaceIn(t, filepath.Join(dir, "routes.yaml"), "- id: gewerbeanmeldung", "- id: gewerbe")
		if err := h.d.Reload(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			path string
			want int
		}{
			{"/v1/submissions/reprocess?status=dead", http.StatusBadRequest},
			{"/v1/submissions/reprocess?since=gestern", http.StatusBadRequest},
			{"/v1/submissions/00000000-0000-0000-0000-000000000000/reprocess", http.StatusNotFound},
			{"/v1/submissions/reprocess?route=other", http.StatusAccepted},
		} {
			if r := adminDo("POST", c.path); r.Status != c.want {
				t.Fatalf("POST %s: %d, want %d: %s", c.path, r.Status, c.want, r.Raw)
			}
		}
		since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		r := adminDo("POST", "/v1/submissions/reprocess?status=failed&route=gewerbeanmeldung&since="+since)
		if got := r.Body["reprocessed"]; r.Status != http.StatusAccepted || len(got.([]any)) != 2 {
			t.Fatalf("reprocess failed: %d %s", r.Status, r.Raw)
		}
		for _, id := range ids {
			h.waitStatus(id, "delivered")
			d := h.detail(id)
			types := eventTypes(d)
			for _, want := range []string{"validation_failed", "reprocess_requested", "rerouted", "mapped", "delivered"} {
				if !slices.Contains(types, want) {
					t.Fatalf("%s: history lacks %s: %v", id, want, types)
				}
			}
			if d.Body["route"] != "gewerbe" {
				t.Fatalf("%s: route %v, want the renamed gewerbe", id, d.Body["route"])
			}
			if !strings.Contains(d.Raw, "reprocessed by admin-api:ops-anna") {
				t.Fatalf("%s: the history does not say who reprocessed: %s", id, d.Raw)
			}
		}
		if r := adminDo("POST", "/v1/submissions/"+ids[0]+"/reprocess"); r.Status != http.StatusConflict || !strings.Contains(r.Raw, "not failed") {
			t.Fatalf("reprocessing a delivered submission: %d %s", r.Status, r.Raw)
		}
		audit := adminDo("GET", "/v1/audit")
		if n := strings.Count(audit.Raw, `"reprocess"`); n != 3 {
			t.Fatalf("audit has %d reprocess entries, want 3: %s", n, audit.Raw)
		}
	})
}

// waitEvents waits until a submission's history has n events of a type.
func waitEvents(t *testing.T, h *harness, id, typ string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d := h.detail(id)
		got := 0
		for _, e := range eventTypes(d) {
			if e == typ {
				got++
			}
		}
		if got >= n && d.Body["status"] == "failed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %s events, want %d: %s", id, got, typ, n, d.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
