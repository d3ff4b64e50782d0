package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
)

// demoCopy copies the demo's routes and mappings into a temp dir with a config file whose data
// and drop directories are temporary too, so a test can edit any of them.
func demoCopy(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := "../fixtures/demo"
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if strings.HasPrefix(rel, "tests") || rel == "amtsbote.yaml" {
			return nil
		}
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, _ := os.ReadFile(path)
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	xoevDir, _ := filepath.Abs("../fixtures/xoev/xdomea-3.0.0")
	cfg := fmt.Sprintf(`server: {listen: "127.0.0.1:0", shutdown_timeout: 5s}
admin: {listen: "127.0.0.1:0", token_sha256: %q}
storage: {data_dir: %q}
pipeline: {poll_interval: 10ms}
log: {level: warn}
sender: {kennung: "09162000", praefix: ags, name: Demo}
portals:
  - {id: demo-portal, token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354}
schemas:
  - id: xdomea-3.0.0
    root: %s/schema/xdomea.xsd
    namespaces: [urn:xoev-de:xdomea:schema:3.0.0]
    code_lists: [%s/schema/code_lists, code_lists]
destinations:
  - {id: eakte, type: filedrop, options: {path: %q}}
  - {id: gewerbe-fachverfahren, type: filedrop, options: {path: %q}}
  - {id: parkraum-fachverfahren, type: filedrop, options: {path: %q}}
  - {id: vhs-kursverwaltung, type: filedrop, options: {path: %q, format: files}}
routes_file: routes.yaml
`, adminHash, filepath.Join(dir, "data"), xoevDir, xoevDir, filepath.Join(dir, "out/eakte"), filepath.Join(dir, "out/fv"),
		filepath.Join(dir, "out/parkraum"), filepath.Join(dir, "out/vhs"))
	os.WriteFile(filepath.Join(dir, "amtsbote.yaml"), []byte(cfg), 0o644)
	return dir
}

func startFile(t testing.TB, file string) *harness {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return &harness{t: t, d: d, cfg: cfg, base: "http://" + d.Addr()}
}

func replaceIn(t testing.TB, path, old, new string) {
	t.Helper()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A valid change is swapped in whole; an invalid one, or one that needs a restart, is refused
// with the reason and the running configuration keeps working.
func TestReloadSwapsValidAndRefusesInvalidConfig(t *testing.T) {
	dir := demoCopy(t)
	h := startFile(t, filepath.Join(dir, "amtsbote.yaml"))
	other := demoSubmission(t)
	other["ags"] = "05315000"
	if r := h.submit(other, demoToken, nil); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("before reload: %d", r.Status)
	}

	replaceIn(t, filepath.Join(dir, "routes.yaml"), `ags: ["09162*"]`, `ags: ["09162*", "05315*"]`)
	if err := h.d.Reload(); err != nil {
		t.Fatalf("valid change refused: %v", err)
	}
	r := h.submit(other, demoToken, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("after reload: %d %s", r.Status, r.Raw)
	}
	h.waitStatus(r.Body["id"].(string), "delivered")

	mappingFile := filepath.Join(dir, "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml")
	replaceIn(t, mappingFile, `value: object_id("geschaeftsgang")`, "value: submission.referenz")
	err := h.d.Reload()
	if err == nil || !strings.Contains(err.Error(), "gewerbeanmeldung-geschaeftsgang-0201.yaml:") || !strings.Contains(err.Error(), "referenz") {
		t.Fatalf("invalid mapping: %v", err)
	}
	// the old snapshot still maps and delivers
	r = h.submit(demoSubmission(t), demoToken, nil)
	h.waitStatus(r.Body["id"].(string), "delivered")
	replaceIn(t, mappingFile, "value: submission.referenz", `value: object_id("geschaeftsgang")`)

	replaceIn(t, filepath.Join(dir, "amtsbote.yaml"), "pipeline: {poll_interval: 10ms}", "pipeline: {poll_interval: 20ms}")
	if err := h.d.Reload(); err == nil || !strings.Contains(err.Error(), "pipeline changed; these take effect only after a restart") {
		t.Fatalf("restart-only change: %v", err)
	}
	if s := h.d.Reloads(); s.OK != 1 || s.Failed != 2 {
		t.Fatalf("reload stats %+v, want 1 ok and 2 failed", s)
	}
}

// A saved file triggers a reload by itself.
func TestFileChangeTriggersReload(t *testing.T) {
	dir := demoCopy(t)
	h := startFile(t, filepath.Join(dir, "amtsbote.yaml"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.d.WatchConfig(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	replaceIn(t, filepath.Join(dir, "routes.yaml"), `ags: ["09162*"]`, `ags: ["0*"]`)
	deadline := time.Now().Add(10 * time.Second)
	for h.d.Reloads().OK == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after a file change: %+v", h.d.Reloads())
		}
		time.Sleep(20 * time.Millisecond)
	}
	other := demoSubmission(t)
	other["ags"] = "05315000"
	if r := h.submit(other, demoToken, nil); r.Status != http.StatusAccepted {
		t.Fatalf("after reload: %d %s", r.Status, r.Raw)
	}
}
