package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

const adminToken = "admin-token-for-tests"

// fakeRuntime is a daemon's runtime with the demo configuration in force.
type fakeRuntime struct {
	snap   *snapshot.Snapshot
	status admin.RuntimeStatus
}

func (f *fakeRuntime) Status() admin.RuntimeStatus { return f.status }

func (f *fakeRuntime) Snapshot() (*snapshot.Snapshot, func()) {
	f.snap.Acquire()
	return f.snap, f.snap.Release
}

type env struct {
	t       *testing.T
	st      *store.Store
	srv     *admin.Server
	url     string
	runtime *fakeRuntime
	now     time.Time
}

var demoSnapshot *snapshot.Snapshot

func TestMain(m *testing.M) {
	snap, err := snapshot.Load("../fixtures/demo/amtsbote.yaml")
	if err != nil {
		panic(err)
	}
	demoSnapshot = snap
	code := m.Run()
	snap.Close()
	os.Exit(code)
}

func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	o := store.Options{Driver: backend, DataDir: t.TempDir()}
	if backend == "postgres" {
		o.DSN = storetest.Postgres(t)
	}
	st, err := store.OpenWith(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PrepareQueues(context.Background(), pipeline.Topics(demoSnapshot.Config), pipeline.TopicCallbacks); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(adminToken))
	users := config.Admin{TokenSHA256: hex.EncodeToString(sum[:])}.AdminUsers()
	srv := admin.New(st, users, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := &env{t: t, st: st, srv: srv, now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	srv.Now = func() time.Time { return e.now }
	e.runtime = &fakeRuntime{snap: demoSnapshot, status: admin.RuntimeStatus{ConfigVersion: "0123456789ab",
		ConfigFile: demoSnapshot.Config.File, LoadedAt: e.now.Add(-time.Hour)}}
	srv.Runtime = e.runtime
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

func eachBackend(t *testing.T, test func(t *testing.T, e *env)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) { test(t, newEnv(t, b)) })
	}
}

// do sends a request with the admin token and returns the status, headers and body.
func (e *env) do(method, path string, body []byte) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// get expects status and decodes the JSON answer into v (if not nil).
func (e *env) json(method, path string, body []byte, want int, v any) []byte {
	e.t.Helper()
	code, _, b := e.do(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// seed stores a submission in a state: its messages, deliveries and events.
type seed struct {
	id, route, status string
	data              string
	at                time.Time
	messages          map[string]string // destination → content
	dead              []string          // destinations whose delivery is dead
	events            []store.Event
	receipts          []store.Receipt
}

func (e *env) seed(s seed) {
	e.t.Helper()
	ctx := context.Background()
	if s.data == "" {
		s.data = `{}`
	}
	err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
		sub := store.Submission{ID: s.id, Portal: "demo-portal", Reference: "REF-" + s.id[:4], Leistung: "99050012104000",
			AGS: "09162000", Route: s.route, Status: store.StatusReceived, Data: []byte(s.data), ReceivedAt: s.at}
		if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
			return err
		}
		for dest, content := range s.messages {
			if err := store.InsertMessage(ctx, tx, store.Message{SubmissionID: s.id, Destination: dest, MessageID: "msg-" + s.id[:4] + "-" + dest,
				MessageType: "Geschaeftsgang.Geschaeftsgang.0201", SchemaSet: "xdomea-3.0.0", CreatedAt: s.at, XML: []byte(content)}); err != nil {
				return err
			}
			if err := store.InsertDelivery(ctx, tx, s.id, dest, s.at); err != nil {
				return err
			}
		}
		for _, dest := range s.dead {
			d := store.Delivery{SubmissionID: s.id, Destination: dest, Status: store.DeliveryDead, Attempts: 3,
				LastError: "connection refused", UpdatedAt: s.at.Add(time.Minute)}
			if _, err := store.UpdateDelivery(ctx, tx, d, 0); err != nil {
				return err
			}
		}
		for _, ev := range s.events {
			if err := store.AddEvent(ctx, tx, s.id, ev); err != nil {
				return err
			}
		}
		for _, r := range s.receipts {
			if err := store.InsertReceipt(ctx, tx, r); err != nil {
				return err
			}
		}
		return store.SetStatus(ctx, tx, s.id, s.status, s.at.Add(time.Minute))
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) purge(id string) {
	e.t.Helper()
	ctx := context.Background()
	var purged bool
	err := e.st.InTx(ctx, func(tx wmsql.Tx) (err error) {
		purged, err = store.Purge(ctx, tx, id, e.now, store.PurgeDue{Before: e.now.Add(time.Hour),
			Statuses: []string{store.StatusFailed, store.StatusDelivered, store.StatusAcknowledged, store.StatusDead}})
		return err
	})
	if err != nil || !purged {
		e.t.Fatalf("%s was not purged: %v", id, err)
	}
}

func demoSubmission(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../fixtures/demo/submission.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(t *testing.T, body []byte, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			t.Errorf("the answer lacks %q:\n%s", w, body)
		}
	}
}
