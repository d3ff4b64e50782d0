package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store/storetest"
)

const (
	demoConfig = "../fixtures/demo/amtsbote.yaml"
	demoToken  = "demo-portal-token"
	otherToken = "other-portal-token"
	otherHash  = "8806266d06fb77fad46ced37e661acbbe6a96f732347c97e16e6a3c73a236213"
	adminToken = "test-admin-token"
	adminHash  = "17d6bfe05d1b1fb7bc499f8e3f639c7b3eda4c40f321eef8887a0c04c89a99c5"
)

type harness struct {
	t      testing.TB
	d      *daemon.Daemon
	cfg    *config.Config
	base   string
	outDir string // the E-Akte's drop directory
	fvDir  string // the Fachverfahren's drop directory
}

// testConfig is the demo configuration on a random port with temporary directories and short
// intervals.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(demoConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Admin.TokenSHA256 = adminHash
	cfg.Server.ShutdownTimeout = 5 * time.Second
	cfg.Storage.DataDir = t.TempDir()
	cfg.Pipeline.PollInterval = 10 * time.Millisecond
	cfg.Log.Level = "warn"
	cfg.Portals = append(cfg.Portals, config.Portal{ID: "other-portal", TokenSHA256: otherHash})
	// The demo's inbox, mail sink and print service are the tests' to set where they need them.
	cfg.Receipts.Directory, cfg.Replies.Email, cfg.Replies.PrintDestination = "", nil, ""
	out := t.TempDir()
	for i := range cfg.Destinations {
		cfg.Destinations[i].Options = map[string]any{"path": filepath.Join(out, cfg.Destinations[i].ID)}
		cfg.Destinations[i].Retry.InitialInterval = 20 * time.Millisecond
		cfg.Destinations[i].Retry.MaxInterval = 100 * time.Millisecond
		cfg.Destinations[i].Breaker.Pause = 100 * time.Millisecond
	}
	return cfg
}

func start(t testing.TB, cfg *config.Config, opts ...daemon.Option) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.Start(context.Background(), cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, d: d, cfg: cfg, base: "http://" + d.Addr(),
		outDir: cfg.Destinations[0].Options["path"].(string), fvDir: cfg.Destinations[1].Options["path"].(string)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func demoSubmission(t testing.TB) map[string]any {
	t.Helper()
	return sampleSubmission(t, "submission.json")
}

// sampleSubmission reads one of the demo's sample submissions (fixtures/demo/FILE).
func sampleSubmission(t testing.TB, file string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../fixtures/demo/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (h *harness) do(method, path, token string, body []byte, header map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// admin calls the admin API with the configured admin token.
func (h *harness) admin(method, path string) response {
	h.t.Helper()
	token := adminToken
	if h.cfg.Admin.TokenSHA256 == otherHash {
		token = otherToken
	}
	req, err := http.NewRequest(method, "http://"+h.d.AdminAddr()+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// detail is a submission as operators see it (admin API): artefacts, errors and event details
// as they are, which portals see only as neutral summaries.
func (h *harness) detail(id string) response {
	h.t.Helper()
	r := h.admin("GET", "/v1/submissions/"+id)
	if r.Status != http.StatusOK {
		h.t.Fatalf("admin view of %s: %d %s", id, r.Status, r.Raw)
	}
	return r
}

func (h *harness) submit(sub map[string]any, token string, header map[string]string) response {
	h.t.Helper()
	body, _ := json.Marshal(sub)
	return h.do("POST", "/v1/submissions", token, body, header)
}

// waitStatus polls a submission until it reaches want (or fails the test after 15 s).
func (h *harness) waitStatus(id, want string) response {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
		if r.Status == http.StatusOK && r.Body["status"] == want {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("submission %s did not reach %q: %d %s", id, want, r.Status, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.d.Store().DB.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %s`, table)).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func eventTypes(r response) []string {
	var out []string
	for _, e := range r.Body["events"].([]any) {
		out = append(out, e.(map[string]any)["type"].(string))
	}
	return out
}

// delivery returns the delivery to one destination from a status answer.
func delivery(t *testing.T, r response, destination string) map[string]any {
	t.Helper()
	for _, d := range r.Body["deliveries"].([]any) {
		if dm := d.(map[string]any); dm["destination"] == destination {
			return dm
		}
	}
	t.Fatalf("no delivery to %s in %s", destination, r.Raw)
	return nil
}

func firstDelivery(t *testing.T, r response) map[string]any {
	t.Helper()
	return delivery(t, r, "eakte")
}

// lastEvent returns the newest event.
func lastEvent(r response) map[string]any {
	events := r.Body["events"].([]any)
	return events[len(events)-1].(map[string]any)
}

// eachBackend runs a conformance test on every store backend (storetest.Backends).
func eachBackend(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

// backendConfig is testConfig on a backend: SQLite in a temporary directory, or a new
// PostgreSQL database.
func backendConfig(t testing.TB, backend string) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	if backend == "postgres" {
		cfg.Storage.Driver = "postgres"
		cfg.Storage.DSN = storetest.Postgres(t)
	}
	return cfg
}
