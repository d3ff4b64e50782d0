package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/admin"
)

// runtimeStatus reads GET /v1/runtime.
func (h *harness) runtimeStatus() admin.RuntimeStatus {
	h.t.Helper()
	r := h.admin("GET", "/v1/runtime")
	if r.Status != http.StatusOK {
		h.t.Fatalf("runtime: %d %s", r.Status, r.Raw)
	}
	var st admin.RuntimeStatus
	if err := json.Unmarshal([]byte(r.Raw), &st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// A destination that keeps failing shows its circuit open and the transport's last error; the
// others stay closed. The configuration's version and load time are known.
func TestRuntimeStatusShowsCircuitAndLastError(t *testing.T) {
	cfg := testConfig(t)
	cfg.Destinations[0].Breaker.Failures = 2
	cfg.Destinations[0].Breaker.Pause = time.Hour
	cfg.Destinations[0].Retry.MaxAttempts = 100
	h := start(t, cfg)
	st := h.runtimeStatus()
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(st.ConfigVersion) || st.ConfigFile != cfg.File || st.LoadedAt.IsZero() ||
		st.LastReload != nil || len(st.Destinations) != len(cfg.Destinations) {
		t.Fatalf("at the start: %+v", st)
	}
	for _, d := range st.Destinations {
		if d.Circuit != "closed" || d.LastError != "" {
			t.Fatalf("at the start: %+v", d)
		}
	}
	os.WriteFile(h.outDir, nil, 0o600) // the E-Akte's drop directory is a file: every drop fails
	h.submit(demoSubmission(t), demoToken, nil)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st = h.runtimeStatus()
		if e := st.Destinations[0]; e.Circuit == "open" {
			if e.ID != "eakte" || e.Type != "filedrop" || e.LastError == "" || e.LastErrorAt == nil {
				t.Fatalf("open circuit without its error: %+v", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the circuit did not open: %+v", st.Destinations)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fv := st.Destinations[1]; fv.Circuit != "closed" || fv.LastError != "" {
		t.Fatalf("the Fachverfahren: %+v", fv)
	}
}

// A refused reload shows in the runtime status with its error; a good one changes the
// configuration's version. The configuration view and the playground use the snapshot in force.
func TestRuntimeStatusShowsReloads(t *testing.T) {
	dir := demoCopy(t)
	h := startFile(t, filepath.Join(dir, "amtsbote.yaml"))
	before := h.runtimeStatus()

	mappingFile := filepath.Join(dir, "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml")
	replaceIn(t, mappingFile, `value: object_id("geschaeftsgang")`, "value: submission.referenz")
	if err := h.d.Reload(); err == nil {
		t.Fatal("a broken mapping was taken")
	}
	st := h.runtimeStatus()
	if st.ReloadsFailed != 1 || st.ReloadsOK != 0 || st.LastReload == nil || st.LastReload.OK ||
		!strings.Contains(st.LastReload.Error, "gewerbeanmeldung-geschaeftsgang-0201.yaml:") || st.ConfigVersion != before.ConfigVersion {
		t.Fatalf("after a refused reload: %+v", st)
	}
	replaceIn(t, mappingFile, "value: submission.referenz", `value: object_id("geschaeftsgang")`)
	replaceIn(t, filepath.Join(dir, "routes.yaml"), `ags: ["09162*"]`, `ags: ["09162*", "05315*"]`)
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	st = h.runtimeStatus()
	if st.ReloadsOK != 1 || st.ReloadsFailed != 1 || !st.LastReload.OK || st.LastReload.Error != "" ||
		st.ConfigVersion == before.ConfigVersion || !st.LoadedAt.After(before.LoadedAt) {
		t.Fatalf("after a good reload: %+v (before %+v)", st, before)
	}
	if s := h.d.Reloads(); s.LastAt.IsZero() || !s.LastOK || !strings.Contains(s.LastError, "referenz") {
		t.Fatalf("reload stats: %+v", s)
	}

	r := h.admin("GET", "/v1/config")
	if r.Status != http.StatusOK || !strings.Contains(r.Raw, `"config_version": "`+st.ConfigVersion+`"`) || !strings.Contains(r.Raw, `"05315*"`) {
		t.Fatalf("config view: %d %s", r.Status, r.Raw)
	}
	sub := demoSubmission(t)
	sub["ags"] = "05315000"
	body, _ := json.Marshal(map[string]any{"submission": sub})
	req, _ := http.NewRequest("POST", "http://"+h.d.AdminAddr()+"/v1/playground", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var pg admin.PlaygroundResult
	if err := json.Unmarshal(raw, &pg); err != nil || res.StatusCode != 200 || !pg.Valid || pg.Route != "gewerbeanmeldung" {
		t.Fatalf("playground after the reload: %d %s", res.StatusCode, raw)
	}
}
