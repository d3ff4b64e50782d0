package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

// TestReplyCrashLosesNothing runs amtsbote as a child process while a Fachverfahren's replies
// to 300 submissions come in (stored as the reply intake stores them, by another process on
// the same store), kills the daemon with SIGKILL twice while it plans and prints them, restarts
// it, and proves that every reply reaches the print service exactly once — one zip per reply,
// holding its document — and the portal's postbox at least once (its event id lets the portal
// drop a repeat); each reply is planned once.
func TestReplyCrashLosesNothing(t *testing.T) {
	if os.Getenv("AMTSBOTE_TEST_CRASH") == "" {
		t.Skip("set AMTSBOTE_TEST_CRASH=1 to run the kill -9 test (.ci/run does)")
	}
	const total = 300
	killAt := []int{60, 170} // printed replies

	const secret = "0123456789abcdef-crash-secret"
	var evMu sync.Mutex
	events := map[string]int{}
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := callbacks.Verify([]byte(secret), r.Header.Get(callbacks.TimestampHeader), r.Header.Get(callbacks.SignatureHeader),
			body, time.Now(), 5*time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get(callbacks.EventTypeHeader) == callbacks.EventReply {
			evMu.Lock()
			events[r.Header.Get(callbacks.EventIDHeader)]++
			evMu.Unlock()
		}
	}))
	defer portal.Close()

	dir := t.TempDir()
	bin := buildAmtsbote(t, dir)
	addr := freeAddr(t)
	out := filepath.Join(dir, "out")
	data := filepath.Join(dir, "data")
	printDir := filepath.Join(out, "druck")
	cfgFile := writeCrashConfig(t, dir, addr, out, fmt.Sprintf("data_dir: %q", data))
	editFile(t, cfgFile, "destinations:\n", fmt.Sprintf("destinations:\n  - {id: druck, type: filedrop, options: {path: %q}}\n", printDir))
	editFile(t, cfgFile, "    token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354\n",
		fmt.Sprintf("    token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354\n    postbox: true\n    callback_url: %q\n    callback_secret: %q\n",
			portal.URL+"/hook", secret))
	routes := replyRoutes(t, "{channels: [email, print]}") // paper, and the postbox as well
	raw, _ := os.ReadFile(cfgFile)
	i := bytes.Index(raw, []byte("routes_file: "))
	raw = append(raw[:i], []byte(fmt.Sprintf("routes_file: %q\nreplies:\n  print_destination: druck\n  max_in_flight: 2\n  retry: {initial_interval: 50ms, max_interval: 200ms}\n", routes))...)
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}

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
	// The reply intake's side: another process on the same store.
	st, err := store.OpenShared(context.Background(), store.Options{Driver: store.SQLite, DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stored atomic.Int64
	insertErr := make(chan error, 1)
	go func() {
		for n := 0; n < total; n++ {
			var err error
			for try := 0; try < 50; try++ {
				if err = insertRepliedSubmission(st, n); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				insertErr <- fmt.Errorf("reply %d: %w", n, err)
				return
			}
			stored.Add(1)
			time.Sleep(3 * time.Millisecond)
		}
		insertErr <- nil
	}()

	printed := func() int {
		zips, _ := filepath.Glob(filepath.Join(printDir, "*.zip"))
		return len(zips)
	}
	for _, at := range killAt {
		deadline := time.Now().Add(60 * time.Second)
		for printed() < at {
			if time.Now().After(deadline) {
				t.Fatalf("only %d replies printed, waiting for %d", printed(), at)
			}
			time.Sleep(2 * time.Millisecond)
		}
		mu.Lock()
		proc.Process.Signal(syscall.SIGKILL)
		proc.Wait()
		mu.Unlock()
		t.Logf("killed the daemon with SIGKILL after %d replies stored, %d printed", stored.Load(), printed())
		startProc()
	}
	if err := <-insertErr; err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for n := 0; n < total; n++ {
		replyID := crashReplyID(n)
		for {
			ds, err := st.ReplyDeliveries(ctx, replyID)
			if err != nil {
				t.Fatal(err)
			}
			sent := 0
			for _, d := range ds {
				if d.Status == store.ReplyDead {
					t.Fatalf("reply %s is dead on %s: %s", replyID, d.Channel, d.LastError)
				}
				if d.Status == store.ReplySent {
					sent++
				}
			}
			if len(ds) > 2 {
				t.Fatalf("reply %s has %d deliveries: %+v", replyID, len(ds), ds)
			}
			if sent == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reply %s: deliveries %+v, want print and portal sent", replyID, ds)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	zips, _ := filepath.Glob(filepath.Join(printDir, "*.zip"))
	if len(zips) != total {
		t.Fatalf("%d print packages for %d replies: a reply was printed twice as different files, or not at all", len(zips), total)
	}
	for n := 0; n < total; n++ {
		replyID := crashReplyID(n)
		zr, err := zip.OpenReader(filepath.Join(printDir, replyID+"_reply_bescheid.zip"))
		if err != nil {
			t.Fatalf("reply %s: %v", replyID, err)
		}
		var pdf []byte
		for _, f := range zr.File {
			if f.Name == "bescheid.pdf" {
				rc, _ := f.Open()
				pdf, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		zr.Close()
		if !bytes.Equal(pdf, replyPDF(replyID)) {
			t.Fatalf("reply %s: the printed document differs from the stored one", replyID)
		}
		planned := 0
		evs, err := st.Events(ctx, crashSubmissionID(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == "reply_planned" {
				planned++
			}
		}
		if planned != 1 {
			t.Fatalf("reply %s planned %d times", replyID, planned)
		}
	}
	evMu.Lock()
	defer evMu.Unlock()
	repeats := 0
	for n := 0; n < total; n++ {
		c := events[crashReplyID(n)]
		if c == 0 {
			t.Fatalf("the portal never heard of reply %s", crashReplyID(n))
		}
		repeats += c - 1
	}
	t.Logf("replies %d, print packages %d, portal events %d (%d repeated after a kill, same event id)", total, len(zips), total+repeats, repeats)
}

func crashSubmissionID(n int) string { return fmt.Sprintf("crash-sub-%04d", n) }
func crashReplyID(n int) string      { return fmt.Sprintf("crash-reply-%04d", n) }

// insertRepliedSubmission stores a delivered submission of the demo portal and, as the reply
// intake does, a Bescheid to it with its planning message.
func insertRepliedSubmission(st *store.Store, n int) error {
	ctx := context.Background()
	now := time.Now()
	subID, replyID := crashSubmissionID(n), crashReplyID(n)
	return st.InTx(ctx, func(tx wmsql.Tx) error {
		if _, err := st.Submission(ctx, subID); err == nil {
			return nil // stored by an earlier try whose commit's answer was lost
		}
		if err := store.InsertSubmission(ctx, tx, store.Submission{ID: subID, Portal: "demo-portal", Reference: fmt.Sprintf("CRASH-%04d", n),
			Leistung: "99050012104000", AGS: "09162000", Route: "gewerbeanmeldung", Status: store.StatusDelivered, Data: []byte(`{}`),
			RequestHash: "h", ReceivedAt: now, Channel: store.ChannelPortal}, nil); err != nil {
			return err
		}
		if err := store.InsertReply(ctx, tx, store.Reply{ID: replyID, SubmissionID: subID, Source: "gewerbe-fachverfahren", Via: "http",
			Kind: replies.KindBescheid, Status: store.StatusDecided, Subject: "Bescheid", ReceivedAt: now},
			[]store.ReplyDocument{{Seq: 0, Name: "bescheid.pdf", MediaType: "application/pdf", Content: bytes.NewReader(replyPDF(replyID))}}); err != nil {
			return err
		}
		if _, err := store.AdvanceStatus(ctx, tx, subID, store.StatusDecided, now); err != nil {
			return err
		}
		return pipeline.Publish(tx, store.TopicReplies, pipeline.NewWork(ctx, replyID, time.Time{}))
	})
}

// editFile replaces old by new in a file, once; the test fails if old is not there.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
