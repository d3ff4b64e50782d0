package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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

// The dlq commands list, show and replay dead letters of a stopped daemon's store; the next
// start delivers the replayed message.
func TestDLQCommands(t *testing.T) {
	dir, cfgFile := deadLetterDemo(t)
	id := runDaemonUntil(t, cfgFile, "dead", "")
	code, out, errOut := runCLI("dlq", "list", "--config", cfgFile)
	if code != 0 || !strings.Contains(out, id+"  eakte") || !strings.Contains(out, "1 dead letters") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI("dlq", "show", id, "--config", cfgFile)
	if code != 0 || !strings.Contains(out, `"last_error"`) || !strings.Contains(out, `"Type": "dead"`) {
		t.Fatalf("show: exit %d\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "out/eakte"))
	code, out, _ = runCLI("dlq", "replay", id, "--config", cfgFile, "--as", "ops-bernd")
	if code != 0 || !strings.Contains(out, "replayed "+id+" to eakte") {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI("dlq", "replay", "--config", cfgFile); code != 2 || !strings.Contains(errOut, "--all") {
		t.Fatalf("replay without id: exit %d %s", code, errOut)
	}
	runDaemonUntil(t, cfgFile, "delivered", id)
}

// deadLetterDemo copies the demo into a temporary directory, with one attempt per delivery and
// an E-Akte whose directory is unusable, so the next submission becomes a dead letter.
func deadLetterDemo(t *testing.T) (dir, cfgFile string) {
	t.Helper()
	dir = copyDemo(t)
	cfgFile = filepath.Join(dir, "amtsbote.yaml")
	edit(t, cfgFile, "data_dir: var/demo", "data_dir: "+filepath.Join(dir, "data"))
	edit(t, cfgFile, "path: var/demo/out/eakte", "path: "+filepath.Join(dir, "out/eakte"))
	edit(t, cfgFile, "path: var/demo/out/gewerbe-fachverfahren", "path: "+filepath.Join(dir, "out/fv"))
	edit(t, cfgFile, "max_attempts: 50", "max_attempts: 1")
	edit(t, cfgFile, "listen: 127.0.0.1:8080", "listen: 127.0.0.1:0")
	edit(t, cfgFile, "listen: 127.0.0.1:8081", "listen: 127.0.0.1:0")
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "out/eakte"), nil, 0o600)
	return dir, cfgFile
}

// runDaemonUntil starts the daemon on cfgFile, submits the demo (unless id is given), waits for
// the submission to reach status, stops the daemon and returns the submission id.
func runDaemonUntil(t *testing.T, cfgFile, status, id string) string {
	t.Helper()
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	base := "http://" + d.Addr()
	if id == "" {
		body, _ := os.ReadFile("../fixtures/demo/submission.json")
		req, _ := http.NewRequest("POST", base+"/v1/submissions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer demo-portal-token")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ ID string }
		json.NewDecoder(res.Body).Decode(&r)
		res.Body.Close()
		id = r.ID
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/submissions/"+id, nil)
		req.Header.Set("Authorization", "Bearer demo-portal-token")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Status string }
		json.NewDecoder(res.Body).Decode(&r)
		res.Body.Close()
		if r.Status == status {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s is %q, want %q", id, r.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
