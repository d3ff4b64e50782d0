package daemon_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/store/storetest"
)

// instance is one amtsbote process of a cluster test.
type instance struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	addr string
	up   atomic.Bool
}

func (in *instance) start(t *testing.T, bin, cfgFile, logPath string) {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	cmd := exec.Command(bin, "serve", "--config", cfgFile)
	cmd.Env = append(os.Environ(), "AMTSBOTE_SERVER_LISTEN="+in.addr)
	logFile, _ := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd = cmd
	waitListening(t, in.addr)
	in.up.Store(true)
}

func (in *instance) kill() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.up.Store(false)
	if in.cmd != nil {
		in.cmd.Process.Signal(syscall.SIGKILL)
		in.cmd.Wait()
		in.cmd = nil
	}
}

// TestClusterCrashLosesNothing runs three amtsbote instances as child processes on one
// PostgreSQL database, posts submissions to them round-robin, kills instances with SIGKILL and
// restarts them while they work, and proves that every submission answered 202 is delivered,
// exactly one artefact per destination, and none stored twice. Like portals, the clients send
// a request that got no answer again with the same Idempotency-Key (to the next instance).
func TestClusterCrashLosesNothing(t *testing.T) {
	if os.Getenv("AMTSBOTE_TEST_CRASH") == "" {
		t.Skip("set AMTSBOTE_TEST_CRASH=1 to run the kill -9 test (.ci/run does)")
	}
	dsn := storetest.Postgres(t)
	const total, clients = 2000, 12
	killAt := []int64{300, 700, 1100, 1500}

	dir := t.TempDir()
	bin := buildAmtsbote(t, dir)
	out := filepath.Join(dir, "out")
	cfgFile := writeCrashConfig(t, dir, freeAddr(t), out, fmt.Sprintf("{driver: postgres, dsn: %q}", dsn))
	instances := make([]*instance, 3)
	for i := range instances {
		instances[i] = &instance{addr: freeAddr(t)}
		instances[i].start(t, bin, cfgFile, filepath.Join(dir, fmt.Sprintf("instance-%d.log", i)))
	}
	t.Cleanup(func() {
		for i, in := range instances {
			in.kill()
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("instance-%d.log", i)))
				t.Logf("instance %d log (tail):\n%s", i, tail(log, 3000))
			}
		}
	})

	var turn atomic.Int64
	began := time.Now()
	ids, accepted, wait := portalClients(t, total, clients, "cluster", func() (string, bool) {
		in := instances[turn.Add(1)%int64(len(instances))]
		return "http://" + in.addr, in.up.Load()
	})

	for k, at := range killAt {
		for accepted.Load() < at {
			time.Sleep(5 * time.Millisecond)
		}
		in := instances[k%len(instances)]
		in.kill()
		t.Logf("killed instance %d with SIGKILL after %d accepted", k%len(instances), accepted.Load())
		time.Sleep(300 * time.Millisecond)
		in.start(t, bin, cfgFile, filepath.Join(dir, fmt.Sprintf("instance-%d.log", k%len(instances))))
	}
	wait()
	intake := time.Since(began)

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
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, delivered int
	deadline := time.Now().Add(3 * time.Minute)
	for {
		db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE status = 'delivered') FROM submissions`).Scan(&stored, &delivered)
		if delivered == total || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("3 instances, 4 kills: accepted %d in %v, stored %d, delivered %d after %v",
		len(unique), intake.Round(time.Millisecond), stored, delivered, time.Since(began).Round(time.Millisecond))
	if stored != total || delivered != total {
		t.Fatalf("stored %d, delivered %d, want %d each", stored, delivered, total)
	}
	for i := range instances {
		log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("instance-%d.log", i)))
		t.Logf("instance %d: %d error lines, %d warnings", i, bytes.Count(log, []byte("level=ERROR")), bytes.Count(log, []byte("level=WARN")))
	}
	for _, dest := range []string{"eakte", "gewerbe-fachverfahren"} {
		zips, _ := filepath.Glob(filepath.Join(out, dest, "*.zip"))
		t.Logf("%s: accepted %d, delivered %d, zip files %d", dest, total, delivered, len(zips))
		if len(zips) != total {
			t.Fatalf("%s: %d zip files for %d submissions: a message was delivered twice as different files or not at all", dest, len(zips), total)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
