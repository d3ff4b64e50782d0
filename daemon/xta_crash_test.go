package daemon_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/xta"
)

// TestXTACrashLosesNothing deposits messages into an XTA mailbox, lets amtsbote (a child
// process) take them in while every close fails — so that stored messages stay in the mailbox —
// kills it with SIGKILL between storing and closing, restarts it, kills it again while it
// fetches, and then lets the closes succeed: every message ends up closed at the broker and
// stored exactly once.
func TestXTACrashLosesNothing(t *testing.T) {
	if os.Getenv("AMTSBOTE_TEST_CRASH") == "" {
		t.Skip("set AMTSBOTE_TEST_CRASH=1 to run the kill -9 test (.ci/run does)")
	}
	const total = 40
	dir := t.TempDir()
	bin := buildAmtsbote(t, dir)
	addr := freeAddr(t)
	srv, pki := xtaTestBroker(t, dir)
	ids := map[string]bool{}
	for i := range total {
		ids[deposit(t, srv, dir, xtaInboxService, fmt.Sprintf("m%03d.xml", i), "application/xml",
			[]byte(fmt.Sprintf(`<?xml version="1.0"?><m:Abgabe xmlns:m="urn:test"><m:id>%d</m:id></m:Abgabe>`, i)))] = true
	}
	dbPath := filepath.Join(dir, "data")
	cfgFile := writeCrashConfig(t, dir, addr, filepath.Join(dir, "out"), fmt.Sprintf("data_dir: %q", dbPath))
	in := xtaInbox(srv, pki)
	f, err := os.OpenFile(cfgFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `xta:
  inboxes:
    - id: %s
      url: %s
      ca_file: %q
      client_cert_file: %q
      client_key_file: %q
      readers: [{identifier: %q}]
      services: [%s]
      route: gewerbeanmeldung
      poll_interval: 100ms
      timeout: 5s
`, in.ID, in.URL, in.CAFile, in.ClientCertFile, in.ClientKeyFile, xtaInboxReader, xtaInboxService)
	f.Close()
	daemonLog := filepath.Join(dir, "daemon.log")
	t.Cleanup(func() {
		if t.Failed() {
			raw, _ := os.ReadFile(daemonLog)
			t.Logf("daemon log (end):\n%s", raw[max(0, len(raw)-4000):])
		}
	})
	waitFor := func(what string, ok func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	proc := &instance{addr: addr}
	t.Cleanup(proc.kill)

	srv.FailNext(xta.ActionClose, 1<<20, xta.NewFault(xta.CodeInternal, "Wartung"), 0)
	srv.SetDelay(5 * time.Millisecond)
	proc.start(t, bin, cfgFile, daemonLog)
	waitFor("stored messages whose close failed", func() bool { return srv.Count(xta.ActionClose) >= total/3 })
	proc.kill()
	t.Logf("killed with SIGKILL between store and close: %d fetched, %d closes refused", srv.Count(xta.ActionGetMessage), srv.Count(xta.ActionClose))
	proc.start(t, bin, cfgFile, daemonLog)
	fetched := srv.Count(xta.ActionGetMessage)
	waitFor("more fetches", func() bool { return srv.Count(xta.ActionGetMessage) >= fetched+total/4 })
	proc.kill()
	t.Logf("killed with SIGKILL while fetching: %d fetched", srv.Count(xta.ActionGetMessage))
	srv.ClearFailures()
	srv.SetDelay(0)
	proc.start(t, bin, cfgFile, daemonLog)
	waitFor("every message closed", func() bool {
		for _, m := range srv.Messages(xtaInboxReader) {
			if !m.Closed {
				return false
			}
		}
		return true
	})
	proc.kill()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dbPath, "amtsbote.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT idempotency_key FROM submissions WHERE channel = 'xta'`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var key string
		rows.Scan(&key)
		seen[key]++
	}
	rows.Close()
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("XTA message %s stored %d times, want once", id, seen[id])
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct XTA messages stored, want %d", len(seen), total)
	}
	t.Logf("%d messages: fetched %d times, %d close requests; stored %d", total, srv.Count(xta.ActionGetMessage), srv.Count(xta.ActionClose), len(seen))
}
