package daemon_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
	"github.com/amtsbote/amtsbote/fitconnect/simulator"
)

// TestFitConnectCrashLosesNothing sends a batch of FIT-Connect submissions through the simulator
// to amtsbote running as a child process, kills it with SIGKILL while it fetches and again
// while it sends decisions, restarts it, and proves that every submission is accepted once —
// the delivery service has one accept for each and no reject — and delivered once: one zip per
// submission and destination, one amtsbote submission per FIT-Connect submission, none stuck.
func TestFitConnectCrashLosesNothing(t *testing.T) {
	if os.Getenv("AMTSBOTE_TEST_CRASH") == "" {
		t.Skip("set AMTSBOTE_TEST_CRASH=1 to run the kill -9 test (.ci/run does)")
	}
	const total = 40
	dir := t.TempDir()
	bin := buildAmtsbote(t, dir)
	addr := freeAddr(t)
	out := filepath.Join(dir, "out")

	sim, ts := demoSimulator(t, "http://"+addr+fitconnect.CallbackPath(fcSubscription))

	dbPath := filepath.Join(dir, "data")
	cfgFile := writeCrashConfig(t, dir, addr, out, fmt.Sprintf("data_dir: %q", dbPath))
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	fc := fmt.Sprintf(`fitconnect:
  enabled: true
  subscriptions:
    - id: %s
      api_url: %s
      token_url: %s/token
      client_id: demo-subscriber
      client_secret: {file: %q}
      callback_secrets: [{file: %q}]
      poll_interval: 300ms
      timeout: 5s
      retry: {initial_interval: 50ms, max_interval: 300ms}
      decryption_keys: [%q]
      signing_key: %q
      metadata_schemas: [%q]
      data_schemas: [{uri: %q, file: %q}]
      destinations: [{id: %s, ags: "09162000"}]
`, fcSubscription, ts.URL, ts.URL, abs("../fixtures/demo/fitconnect/client-secret.txt"), abs("../fixtures/demo/fitconnect/callback-secret.txt"),
		abs(fcKeys+"encryption.private.jwk"), abs(fcKeys+"signing.private.jwk"), abs("../fixtures/demo/fitconnect/schemas/metadata.schema.v1.0.0.json"),
		fcSchemaURI, abs("../fixtures/demo/schemas/gewerbeanmeldung.schema.json"), fcDestination)
	f, err := os.OpenFile(cfgFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(fc)
	f.Close()

	t.Cleanup(func() {
		if t.Failed() {
			raw, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
			t.Logf("daemon log (end):\n%s", raw[max(0, len(raw)-4000):])
		}
	})
	daemonLog := filepath.Join(dir, "daemon.log")
	proc := &instance{addr: addr}
	proc.start(t, bin, cfgFile, daemonLog)
	t.Cleanup(proc.kill)
	kill := func(why string) {
		proc.kill()
		t.Logf("killed the daemon with SIGKILL %s (gets %d, events %d)", why, sim.Requests("get"), sim.Requests("event"))
	}

	// Slow downloads and decisions a little, so that kills find work under way.
	sim.Stall("attachment", 20*time.Millisecond, -1)
	sim.Stall("event", 30*time.Millisecond, -1)
	env := &fcEnv{sim: sim, send: &sender.Sender{API: fitconnect.NewClient(ts.URL, "v1", ts.URL+"/token", "demo-sender",
		"demo-sender-secret-not-for-production", "", 10*time.Second)}}
	if env.pub, err = env.send.EncryptionKey(context.Background(), fcDestination); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, total)
	var wg sync.WaitGroup
	for i := 0; i < total; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app := env.application(t)
			app.Metadata["additionalReferenceInfo"] = map[string]any{"senderReference": fmt.Sprintf("FC-CRASH-%04d", i)}
			ids[i] = env.submit(t, app, nil, nil).SubmissionID
		}()
	}
	wg.Wait()
	waitFor := func(what string, ok func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor("fetches", func() bool { return sim.Requests("get") >= total/4 })
	kill("while fetching")
	proc.start(t, bin, cfgFile, daemonLog)
	waitFor("decisions", func() bool { return sim.Requests("event") >= total/2 })
	kill("while deciding")
	proc.start(t, bin, cfgFile, daemonLog)

	deadline := time.Now().Add(90 * time.Second)
	for _, id := range ids {
		for sim.State(id) != simulator.StateAccepted {
			if s := sim.State(id); s == simulator.StateRejected || time.Now().After(deadline) {
				t.Fatalf("FIT-Connect submission %s is %q, not accepted", id, s)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if event, _, _ := sim.Decision(id); event != simulator.EventAccept {
			t.Fatalf("%s: decision %s", id, event)
		}
	}
	sim.Stall("attachment", 0, 0)
	sim.Stall("event", 0, 0)
	// Every zip once; amtsbote holds each FIT-Connect submission once, and has settled every one.
	for _, dest := range []string{"eakte", "gewerbe-fachverfahren"} {
		var zips []string
		for time.Now().Before(deadline) {
			if zips, _ = filepath.Glob(filepath.Join(out, dest, "*.zip")); len(zips) >= total {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(zips) != total {
			t.Fatalf("%s: %d zip files for %d FIT-Connect submissions", dest, len(zips), total)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dbPath, "amtsbote.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The service has every decision; amtsbote records each once the service has confirmed it,
	// a moment later. Wait for that before the daemon stops.
	var open int
	for time.Now().Before(deadline) {
		if err := db.QueryRow(`SELECT count(*) FROM fitconnect_inbox WHERE state != 'decided'`).Scan(&open); err == nil && open == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	proc.kill()
	var subs, distinct, accepted int
	db.QueryRow(`SELECT count(*), count(DISTINCT idempotency_key) FROM submissions WHERE channel = 'fitconnect'`).Scan(&subs, &distinct)
	db.QueryRow(`SELECT count(*) FROM fitconnect_inbox WHERE state != 'decided'`).Scan(&open)
	db.QueryRow(`SELECT count(*) FROM fitconnect_inbox WHERE decision = 'accept'`).Scan(&accepted)
	t.Logf("FIT-Connect submissions %d, stored %d, accepted %d, open %d; token requests %d, gets %d, decisions posted %d",
		total, subs, accepted, open, sim.Requests("token"), sim.Requests("get"), sim.Requests("event"))
	if subs != total || distinct != total || open != 0 || accepted != total {
		t.Fatalf("stored %d (%d distinct), %d open, %d accepted; want %d each and none open", subs, distinct, open, accepted, total)
	}
	// Restarting again sends nothing more.
	if n := sim.Requests("event"); n < total {
		t.Fatalf("%d decisions posted for %d submissions", n, total)
	}
}
