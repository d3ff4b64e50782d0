package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store"
)

// submitAsync posts the demo submission with an Idempotency-Key and delivers the answer on the
// channel.
func (h *harness) submitAsync(key string) <-chan response {
	out := make(chan response, 1)
	go func() {
		out <- h.submit(demoSubmission(h.t), demoToken, map[string]string{"Idempotency-Key": key})
	}()
	return out
}

// noAnswerWithin fails if an answer arrives within d.
func noAnswerWithin(t *testing.T, answers <-chan response, d time.Duration, what string) {
	t.Helper()
	select {
	case r := <-answers:
		t.Fatalf("%s answered %d before the submission was on disk: %s", what, r.Status, r.Raw)
	case <-time.After(d):
	}
}

// 202 only for what is on disk: while the sync of the write-ahead log is held up, neither the
// request nor a retry with the same Idempotency-Key is answered — although the row is already
// visible to readers — and no delivery goes out with a ProzessID whose mapping is not durable.
// A build that answered before the sync, or delivered before it, fails here.
func TestAcceptedAndDeliveredOnlyOnceDurable(t *testing.T) {
	h := start(t, testConfig(t))
	st := h.d.Store()
	release := make(chan struct{})
	var held atomic.Int64
	st.InjectSyncFault(func() error {
		held.Add(1)
		<-release
		return nil
	})
	first := h.submitAsync("durable-1")
	deadline := time.Now().Add(10 * time.Second)
	for h.count("submissions") == 0 || held.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the submission was not committed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	noAnswerWithin(t, first, 300*time.Millisecond, "the request")
	retry := h.submitAsync("durable-1")
	noAnswerWithin(t, retry, 300*time.Millisecond, "a retry with the same key")
	if n := countZips(t, h.outDir) + countZips(t, h.fvDir); n != 0 {
		t.Fatalf("%d packages went out while the mapping was not on disk", n)
	}
	close(release)
	a, b := <-first, <-retry
	if a.Status != 202 || b.Status != 202 || a.Body["id"] != b.Body["id"] {
		t.Fatalf("after the sync: %d %v and %d %v, want 202 twice with one id", a.Status, a.Body, b.Status, b.Body)
	}
	h.waitStatus(a.Body["id"].(string), "delivered")
}

// A failed sync is final (as in PostgreSQL): the request whose commit it was gets 503, and so
// does every later one — a retry with the same key included, which would otherwise find the
// committed row and get 202 — readiness fails, nothing is processed or delivered, and Wait
// returns so that the process stops and a restart recovers from the disk.
func TestFailedSyncStopsEverything(t *testing.T) {
	h := start(t, testConfig(t))
	st := h.d.Store()
	var fail atomic.Bool
	fail.Store(true)
	st.InjectSyncFault(func() error {
		if fail.Load() {
			return errors.New("injected I/O error")
		}
		return nil
	})
	r := h.submit(demoSubmission(t), demoToken, map[string]string{"Idempotency-Key": "broken-1"})
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("with a failed sync: %d %s, want 503", r.Status, r.Raw)
	}
	fail.Store(false) // the disk "recovers": a later fsync would succeed, and proves nothing
	for _, key := range []string{"broken-1", "broken-2", ""} {
		header := map[string]string{}
		if key != "" {
			header["Idempotency-Key"] = key
		}
		if r := h.submit(demoSubmission(t), demoToken, header); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("after the failed sync, key %q: %d %s, want 503", key, r.Status, r.Raw)
		}
	}
	if code, body := get(t, "http://"+h.d.AdminAddr()+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "broken") {
		t.Fatalf("readyz with a broken store: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.d.Wait(ctx); err == nil || !errors.Is(err, store.ErrBroken) {
		t.Fatalf("Wait = %v, want the broken store", err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := countZips(t, h.outDir) + countZips(t, h.fvDir); n != 0 {
		t.Fatalf("%d packages delivered from a broken store", n)
	}
	var status string
	st.DB.QueryRow(`SELECT status FROM submissions`).Scan(&status)
	if status != store.StatusReceived {
		t.Fatalf("the committed, not durable submission was processed: %s", status)
	}
}

// When the PostgreSQL session holding a queue message's transaction is lost (killed here, as an
// idle-in-transaction timeout, a proxy or a failover would), the message is not delivered again
// and again from the dead transaction: the attempt that was under way counts at most once more,
// and the next healthy transaction delivers it.
func TestLostSessionDeliversOnceMore(t *testing.T) {
	cfg := backendConfig(t, "postgres")
	g := useGate(t, cfg, 0)
	cfg.Destinations[0].MaxInFlight = 1
	cfg.Pipeline.HandlerAttempts = 3
	h := start(t, cfg)
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	select {
	case <-g.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the delivery did not start")
	}
	// The handler's transaction is idle while the adapter works: end its session.
	// Its last statement read the delivery: that tells it from the other handlers' transactions,
	// which poll the queue.
	var pid int
	err := h.d.Store().DB.QueryRow(`SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
		WHERE a.datname = current_database() AND a.state = 'idle in transaction' AND a.query LIKE '%FROM deliveries%'
		AND l.relation = '"watermill_deliver_eakte"'::regclass LIMIT 1`).Scan(&pid)
	if err != nil {
		t.Fatalf("find the session holding the message: %v", err)
	}
	if _, err := h.d.Store().DB.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	g.open.Store(true)
	g.verdict <- nil // the attempt under way succeeds, but cannot be recorded
	h.waitStatus(id, "delivered")
	time.Sleep(2 * time.Second) // what a dead transaction would repeat, it would repeat by now
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("the adapter was called %d times; want 2 (the lost attempt and one in a healthy transaction)", n)
	}
}

// A receipt that arrives while a delivery attempt is still under way stands: the attempt ending
// later does not turn acknowledged back into delivered.
func TestReceiptIsNotOverwrittenByAnAttemptUnderWay(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		g := useGate(t, cfg, 0)
		inbox := filepath.Join(t.TempDir(), "inbox")
		cfg.Receipts.Directory, cfg.Receipts.Schedule = inbox, "@every 1h"
		h := start(t, cfg)
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		var pkg *adapters.Package
		select {
		case pkg = <-g.entered:
		case <-time.After(15 * time.Second):
			t.Fatal("the delivery did not start")
		}
		writeFile(t, filepath.Join(inbox, "ack.xml"), empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", pkg.MessageID))
		if res, err := h.d.PollReceipts(context.Background()); err != nil || res.Acknowledged != 1 {
			t.Fatalf("poll: %+v %v", res, err)
		}
		g.verdict <- nil
		deadline := time.Now().Add(10 * time.Second)
		for count(eventTypes(h.detail(id)), "attempt_superseded") == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the attempt's end was not recorded: %s", h.detail(id).Raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if d := delivery(t, h.detail(id), "eakte"); d["status"] != "acknowledged" {
			t.Fatalf("the receipt was overwritten: %v", d)
		}
	})
}

// A replay and retention racing for the same dead submission: whichever commits first wins, and
// a revived delivery always finds its whole package. Retention lists candidates before it purges
// them; a replay in between makes the purge skip the submission.
func TestReplayAndRetentionNeverDeliverAnEmptyPackage(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		g := useGate(t, cfg, 0)
		cfg.Destinations[0].Retry.MaxAttempts = 1
		c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		h := start(t, cfg, daemon.WithClock(c.Now))
		st := h.d.Store()
		ctx := context.Background()
		deadOne := func() string {
			id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
			<-g.entered
			g.verdict <- adapters.Permanent(errors.New("refused"))
			h.waitStatus(id, "dead")
			return id
		}
		revived, purged := deadOne(), deadOne()
		c.Set(c.Now().Add(cfg.Retention.DeadLetters + time.Hour))
		cutoff := c.Now().Add(-cfg.Retention.DeadLetters)
		due := store.PurgeDue{Statuses: []string{store.StatusDead}, Before: cutoff}
		listed, err := st.PurgeCandidates(ctx, "", due.Statuses, cutoff)
		if err != nil || len(listed) != 2 {
			t.Fatalf("candidates %v (%v), want both", listed, err)
		}
		purge := func(id string) bool {
			var done bool
			if err := st.InTx(ctx, func(tx wmsql.Tx) (err error) {
				done, err = store.Purge(ctx, tx, id, c.Now(), due)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return done
		}

		// Replay first, then the purge of the listed candidate: it is no longer due.
		if r := h.admin("POST", "/v1/dead-letters/"+revived+"/eakte/replay"); r.Status != 202 {
			t.Fatalf("replay: %d %s", r.Status, r.Raw)
		}
		if purge(revived) {
			t.Fatal("retention purged a submission a replay had revived")
		}
		<-g.entered
		g.verdict <- nil
		h.waitStatus(revived, "delivered")
		g.mu.Lock()
		read, errs := g.read, g.errs
		g.mu.Unlock()
		atts, _ := st.Attachments(ctx, revived)
		for _, a := range atts {
			if read[a.PackageName] != a.Size || a.Size == 0 {
				t.Errorf("%s: %d of %d bytes delivered", a.PackageName, read[a.PackageName], a.Size)
			}
		}
		if len(errs) > 0 || len(atts) != 4 { // two from the portal, the application's PDF and data
			t.Fatalf("package of the replay: %d attachments, errors %v", len(atts), errs)
		}

		// The purge first, then the replay: nothing is revived and nothing delivered.
		if !purge(purged) {
			t.Fatal("the due submission was not purged")
		}
		if r := h.admin("POST", "/v1/dead-letters/"+purged+"/eakte/replay"); r.Status != 404 {
			t.Fatalf("replay of a purged submission: %d %s, want 404", r.Status, r.Raw)
		}
		time.Sleep(200 * time.Millisecond)
		if n := g.calls.Load(); n != 3 {
			t.Fatalf("%d deliveries, want 3 (two dead, one replayed)", n)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
