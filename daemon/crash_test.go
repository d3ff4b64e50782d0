package daemon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashLosesNothing runs amtsbote as a child process, posts a few hundred submissions from
// several clients, kills the daemon with SIGKILL twice while it works, restarts it, and proves
// that every submission answered 202 is delivered exactly once: one zip per submission, no
// submission stored twice. The clients behave like portals: a request that got no answer is
// sent again with the same Idempotency-Key.
func TestCrashLosesNothing(t *testing.T) {
	if os.Getenv("AMTSBOTE_TEST_CRASH") == "" {
		t.Skip("set AMTSBOTE_TEST_CRASH=1 to run the kill -9 test (.ci/run does)")
	}
	const total, clients = 300, 8
	killAt := []int64{100, 200}

	dir := t.TempDir()
	bin := buildAmtsbote(t, dir)
	addr := freeAddr(t)
	out := filepath.Join(dir, "out")
	cfgFile := writeCrashConfig(t, dir, addr, out, fmt.Sprintf("data_dir: %q", filepath.Join(dir, "data")))

	var mu sync.Mutex
	var proc *exec.Cmd
	startProc := func() {
		mu.Lock()
		defer mu.Unlock()
		proc = exec.Command(bin, "serve", "--config", cfgFile)
		logFile, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		proc.Stdout, proc.Stderr = logFile, logFile
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		waitListening(t, addr)
	}
	startProc()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		proc.Process.Kill()
		proc.Wait()
	})

	base := "http://" + addr
	ids, accepted, wait := portalClients(t, total, clients, "crash", func() (string, bool) { return base, true })

	for _, at := range killAt {
		for accepted.Load() < at {
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		proc.Process.Signal(syscall.SIGKILL)
		proc.Wait()
		mu.Unlock()
		t.Logf("killed the daemon with SIGKILL after %d accepted", accepted.Load())
		startProc()
	}
	wait()

	unique := map[string]bool{}
	for i, id := range ids {
		if id == "" {
			t.Fatalf("submission %d was never accepted", i)
		}
		unique[id] = true
	}
	if len(unique) != total {
		t.Fatalf("%d distinct ids for %d submissions: a retried request created a second submission", len(unique), total)
	}
	deadline := time.Now().Add(90 * time.Second)
	for id := range unique {
		for {
			status := getStatus(base, id)
			if status == "delivered" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("submission %s is %q, not delivered", id, status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, dest := range []string{"eakte", "gewerbe-fachverfahren"} {
		zips, _ := filepath.Glob(filepath.Join(out, dest, "*.zip"))
		t.Logf("%s: accepted %d, delivered %d, zip files %d", dest, len(unique), len(unique), len(zips))
		if len(zips) != total {
			t.Fatalf("%s: %d zip files for %d submissions: a message was delivered twice as different files or not at all", dest, len(zips), total)
		}
	}
}

// buildAmtsbote builds the binary into dir.
func buildAmtsbote(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "amtsbote")
	build := exec.Command("go", "build", "-o", bin, "../cmd/amtsbote")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// portalClients posts total copies of the demo submission from clients goroutines, each with its
// own reference and Idempotency-Key, and behaves like portals: a request that got no answer is
// sent again with the same key (to the next target) for up to a minute. target names where to
// send, or reports that it is down. It returns the ids (an entry is filled when its submission
// is accepted), the number accepted so far, and a function that waits for the clients.
func portalClients(t *testing.T, total, clients int, name string, target func() (string, bool)) ([]string, *atomic.Int64, func()) {
	t.Helper()
	var accepted, next atomic.Int64
	ids := make([]string, total)
	var wg sync.WaitGroup
	body := demoSubmission(t)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				sub := cloneWith(body, fmt.Sprintf("%s-%04d", strings.ToUpper(name), i))
				deadline := time.Now().Add(60 * time.Second)
				for time.Now().Before(deadline) {
					base, up := target()
					if !up {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					if id, ok := post(base, sub, fmt.Sprintf("%s-%04d", name, i)); ok {
						ids[i] = id
						accepted.Add(1)
						break
					}
					time.Sleep(20 * time.Millisecond) // no answer: again, same key
				}
			}
		}()
	}
	return ids, &accepted, wg.Wait
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeCrashConfig writes the demo configuration for a child process; storage is the body of
// the storage section (one line).
func writeCrashConfig(t *testing.T, dir, addr, out, storage string) string {
	t.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfg := fmt.Sprintf(`server:
  listen: %q
  shutdown_timeout: 5s
  rate_per_second: 0
  spool_dir: %q
admin:
  listen: 127.0.0.1:0
storage:
  %s
pipeline:
  poll_interval: 10ms
log:
  level: warn
sender: {kennung: "09162000", praefix: "009", name: Demo}
portals:
  - id: demo-portal
    token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354
schemas:
  - id: xdomea-3.0.0
    root: %q
    namespaces: [urn:xoev-de:xdomea:schema:3.0.0]
    code_lists: [%q, %q]
destinations:
  - id: eakte
    type: filedrop
    options: {path: %q}
    retry: {initial_interval: 50ms, max_interval: 200ms}
  - id: gewerbe-fachverfahren
    type: filedrop
    options: {path: %q}
    retry: {initial_interval: 50ms, max_interval: 200ms}
  - {id: parkraum-fachverfahren, type: filedrop, options: {path: %q}}
  - {id: vhs-kursverwaltung, type: filedrop, options: {path: %q, format: files}}
routes_file: %q
`, addr, filepath.Join(dir, "spool"), storage, abs("../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd"),
		abs("../fixtures/xoev/xdomea-3.0.0/schema/code_lists"), abs("../fixtures/demo/code_lists"), filepath.Join(out, "eakte"),
		filepath.Join(out, "gewerbe-fachverfahren"), filepath.Join(out, "parkraum-fachverfahren"), filepath.Join(out, "vhs-kursverwaltung"),
		abs("../fixtures/demo/routes.yaml"))
	path := filepath.Join(dir, "amtsbote.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon did not listen on %s", addr)
}

func cloneWith(sub map[string]any, reference string) []byte {
	m := map[string]any{}
	for k, v := range sub {
		m[k] = v
	}
	m["reference"] = reference
	b, _ := json.Marshal(m)
	return b
}

var crashClient = &http.Client{Timeout: 10 * time.Second}

func post(base string, body []byte, key string) (string, bool) {
	req, _ := http.NewRequest("POST", base+"/v1/submissions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+demoToken)
	req.Header.Set("Idempotency-Key", key)
	res, err := crashClient.Do(req)
	if err != nil {
		return "", false
	}
	defer res.Body.Close()
	var r struct{ ID string }
	if res.StatusCode != http.StatusAccepted || json.NewDecoder(res.Body).Decode(&r) != nil {
		return "", false
	}
	return r.ID, true
}

func getStatus(base, id string) string {
	req, _ := http.NewRequest("GET", base+"/v1/submissions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+demoToken)
	res, err := crashClient.Do(req)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer res.Body.Close()
	var r struct{ Status string }
	json.NewDecoder(res.Body).Decode(&r)
	return strings.TrimSpace(r.Status)
}
