package bench_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/bench"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
)

func startDemo(t *testing.T) string {
	t.Helper()
	return startDaemon(t, "../fixtures/demo/amtsbote.yaml")
}

// startDaemon runs a daemon with the configuration in this process, its data and drop
// directories in temporary directories.
func startDaemon(t *testing.T, file string) string {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Server.RatePerSecond = 0
	cfg.Storage.DataDir = t.TempDir()
	cfg.Pipeline.PollInterval = 10 * time.Millisecond
	cfg.Receipts.Directory = ""
	out := t.TempDir()
	for i := range cfg.Destinations {
		if cfg.Destinations[i].Type == "filedrop" {
			cfg.Destinations[i].Options = map[string]any{"path": filepath.Join(out, cfg.Destinations[i].ID)}
		}
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return "http://" + d.Addr()
}

// The load tool counts what it sent, what was accepted and delivered, and errors by kind.
func TestRunMeasuresIntakeAndDelivery(t *testing.T) {
	target := startDemo(t)
	for _, c := range []struct {
		name      string
		o         bench.Options
		accepted  int
		delivered int
		errors    map[string]int
	}{
		{"json, waiting for deliveries", bench.Options{Count: 12, Connections: 3, WaitDelivered: 30 * time.Second}, 12, 12, nil},
		{"multipart with a padded form and a file", bench.Options{Count: 5, Connections: 2, Multipart: true, DataBytes: 10_000,
			AttachmentBytes: 100_000, WaitDelivered: 30 * time.Second}, 5, 5, nil},
		{"fixed rate", bench.Options{Count: 10, Connections: 2, Rate: 100}, 10, 0, nil},
		{"wrong token", bench.Options{Count: 4, Connections: 2, Token: "nobody"}, 0, 0, map[string]int{"HTTP 401": 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Targets = []string{target}
			o.Submission = "../fixtures/demo/submission.json"
			if o.Token == "" {
				o.Token = "demo-portal-token"
			}
			rep, err := bench.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Sent != o.Count || rep.Accepted != c.accepted || rep.Delivered != c.delivered || len(rep.Errors) != len(c.errors) {
				t.Fatalf("report %+v", rep)
			}
			for k, n := range c.errors {
				if rep.Errors[k] != n {
					t.Fatalf("errors %v, want %v", rep.Errors, c.errors)
				}
			}
			if c.accepted > 0 && (rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99) {
				t.Fatalf("latency %+v", rep.Latency)
			}
			if c.delivered > 0 && (rep.Lag.P50 <= 0 || rep.DeliveredPerSecond <= 0 || rep.Unfinished != 0) {
				t.Fatalf("delivery figures %+v", rep)
			}
		})
	}
}

// CPUTime reads a process's user and system time from /proc; an unknown process has none.
func TestCPUTime(t *testing.T) {
	before := bench.CPUTime(os.Getpid())
	x := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		for i := range 1_000_000 {
			x += i
		}
		if bench.CPUTime(os.Getpid()).User > before.User {
			break
		}
	}
	if after := bench.CPUTime(os.Getpid()); after.User <= before.User || after.System < before.System {
		t.Fatalf("user time did not grow while computing (%d): %+v → %+v", x, before, after)
	}
	if got := bench.CPUTime(1 << 30); got != (bench.CPU{}) {
		t.Fatalf("a process that does not exist: %+v", got)
	}
}
