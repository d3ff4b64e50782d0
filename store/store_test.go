package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

func eachBackend(t *testing.T, test func(t *testing.T, o store.Options)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) {
			o := store.Options{Driver: b, DataDir: t.TempDir()}
			if b == store.Postgres {
				o.DSN = storetest.Postgres(t)
			}
			test(t, o)
		})
	}
}

func open(t *testing.T, o store.Options) *store.Store {
	t.Helper()
	st, err := store.OpenWith(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Attachments go in and come out as streams, a chunk at a time, unchanged, with size and hash.
func TestAttachmentsStreamInChunks(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		random := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
		big := random(2*store.ChunkSize + 12345)
		// The reader knows the end of a file from a short chunk; files of whole chunks end with
		// a query that finds no further chunk.
		contents := [][]byte{big, nil, random(store.ChunkSize), random(2 * store.ChunkSize), random(100)}
		var atts []store.Attachment
		for i, c := range contents {
			// Streamed (any reader) and in memory (store.Content), alternating.
			content := io.Reader(bytes.NewReader(c))
			if i%2 == 0 {
				content = store.Content(c)
			}
			atts = append(atts, store.Attachment{Seq: i, Filename: fmt.Sprintf("f%d", i), PackageName: fmt.Sprintf("p%d", i),
				MediaType: "application/octet-stream", Content: content})
		}
		sub := store.Submission{ID: "s1", Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
			Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: time.Now()}
		if err := st.InTx(ctx, func(tx wmsql.Tx) error { return store.InsertSubmission(ctx, tx, sub, atts) }); err != nil {
			t.Fatal(err)
		}
		got, err := st.Attachments(ctx, "s1")
		if err != nil || len(got) != len(contents) {
			t.Fatalf("attachments: %v %v", got, err)
		}
		sum := sha256.Sum256(big)
		if got[0].Size != int64(len(big)) || got[0].SHA256 != hex.EncodeToString(sum[:]) || got[1].Size != 0 {
			t.Fatalf("size/hash: %+v", got)
		}
		var chunks int
		st.DB.QueryRow(`SELECT count(*) FROM attachment_chunks WHERE submission_id = $1 AND seq = 0`, "s1").Scan(&chunks)
		if chunks != 3 {
			t.Fatalf("%d chunks, want 3", chunks)
		}
		for i, want := range contents {
			r := st.OpenAttachment(ctx, "s1", i, got[i].Size)
			back, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(back, want) {
				t.Fatalf("attachment %d read back %d bytes (%v), want %d", i, len(back), err, len(want))
			}
		}

		// Chunks deleted while the file is read (a purge): an error, never a shorter file.
		r := st.OpenAttachment(ctx, "s1", 0, got[0].Size)
		defer r.Close()
		if _, err := io.ReadFull(r, make([]byte, store.ChunkSize)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB.Exec(`DELETE FROM attachment_chunks WHERE submission_id = $1`, "s1"); err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err == nil || !strings.Contains(err.Error(), "deleted while read") {
			t.Fatalf("reading on after the chunks were deleted: %d more bytes, error %v; want an error", n, err)
		}
	})
}

// Any number of files, with content in memory, streamed or empty, and more of it in memory
// together than one chunk, comes back whole, each under its own name and with its own size and
// hash.
func TestInsertManyAttachments(t *testing.T) {
	random := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	type file struct {
		content  []byte
		streamed bool
	}
	many := func(n, size int) []file {
		var fs []file
		for range n {
			fs = append(fs, file{content: random(size)})
		}
		return fs
	}
	cases := []struct {
		name  string
		files []file
	}{
		{"150 small files", many(150, 10)},
		{"content in memory over a chunk together", many(5, 400_000)},
		{"in memory and streamed, alternating, and empty", []file{{content: random(300)}, {content: random(200), streamed: true},
			{content: nil}, {content: random(store.ChunkSize + 1)}, {content: random(50), streamed: true}, {content: random(70)}}},
	}
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		for n, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id := fmt.Sprintf("s%d", n)
				var atts []store.Attachment
				for i, f := range c.files {
					content := store.Content(f.content)
					if f.streamed {
						content = bytes.NewReader(f.content)
					}
					atts = append(atts, store.Attachment{Seq: i, Filename: fmt.Sprintf("f%d.bin", i), PackageName: fmt.Sprintf("p%d.bin", i),
						MediaType: "application/octet-stream", Content: content})
				}
				sub := store.Submission{ID: id, Portal: "p", Reference: id, Leistung: "l", AGS: "a", Route: "x",
					Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: time.Now()}
				if err := st.InTx(ctx, func(tx wmsql.Tx) error { return store.InsertSubmission(ctx, tx, sub, atts) }); err != nil {
					t.Fatal(err)
				}
				got, err := st.Attachments(ctx, id)
				if err != nil || len(got) != len(c.files) {
					t.Fatalf("%d attachments (%v), want %d", len(got), err, len(c.files))
				}
				for i, f := range c.files {
					sum := sha256.Sum256(f.content)
					a := got[i]
					if a.Seq != i || a.Filename != fmt.Sprintf("f%d.bin", i) || a.PackageName != fmt.Sprintf("p%d.bin", i) ||
						a.Origin != store.OriginPortal || a.Size != int64(len(f.content)) || a.SHA256 != hex.EncodeToString(sum[:]) {
						t.Fatalf("attachment %d: %+v", i, a)
					}
					r := st.OpenAttachment(ctx, id, i, a.Size)
					back, err := io.ReadAll(r)
					r.Close()
					if err != nil || !bytes.Equal(back, f.content) {
						t.Fatalf("attachment %d read back %d bytes (%v), want %d", i, len(back), err, len(f.content))
					}
				}
			})
		}
	})
}

// Events written together keep their order in the history, after the ones before them.
func TestEventsKeepTheirOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		at := time.UnixMilli(1_800_000_000_000)
		sub := store.Submission{ID: "s1", Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
			Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: at}
		batch := []store.Event{
			{At: at, Type: "mapped", Destination: "b", Detail: "zweite"},
			{At: at, Type: "validated", Destination: "b", Detail: "it's \"quoted\""},
			{At: at, Type: "mapped", Destination: "a", Detail: "dritte"},
		}
		err := st.InTx(ctx, func(tx wmsql.Tx) error {
			if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
				return err
			}
			if err := store.AddEvents(ctx, tx, "s1"); err != nil { // nothing to write
				return err
			}
			return store.AddEvents(ctx, tx, "s1", batch...)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Events(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		want := append([]store.Event{{At: at, Type: "received"}}, batch...)
		if len(got) != len(want) {
			t.Fatalf("events %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].Type != want[i].Type || got[i].Destination != want[i].Destination || got[i].Detail != want[i].Detail || !got[i].At.Equal(want[i].At) {
				t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// Instances that start together migrate the schema once; tools refuse an unmigrated store.
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		if _, err := store.OpenShared(context.Background(), o); err == nil {
			t.Fatal("OpenShared accepted a store that was never migrated")
		}
		n := 1
		if o.Driver == store.Postgres {
			n = 4
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := store.OpenWith(context.Background(), o)
				if err == nil {
					err = st.PrepareQueues(context.Background(), []string{"submissions", "callbacks"}, "callbacks")
					st.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st, err := store.OpenShared(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	})
}

// A scheduled job runs on one instance at a time: while one holds it, another skips it.
func TestExclusiveJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		a, b := open(t, o), (*store.Store)(nil)
		if o.Driver == store.Postgres {
			b = open(t, o) // a second instance
		} else {
			b = a
		}
		ctx := context.Background()
		inside, release := make(chan struct{}), make(chan struct{})
		done := make(chan bool)
		go func() {
			ran, _ := a.Exclusive(ctx, "retention", func() error { close(inside); <-release; return nil })
			done <- ran
		}()
		<-inside
		ranB, err := b.Exclusive(ctx, "retention", func() error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		other, _ := b.Exclusive(ctx, "receipts", func() error { return nil })
		close(release)
		if !<-done || !other {
			t.Fatal("a job did not run")
		}
		if want := o.Driver != store.Postgres; ranB != want {
			t.Fatalf("second run of a running job: ran=%v, want %v", ranB, want)
		}
		if ran, _ := b.Exclusive(ctx, "retention", func() error { return nil }); !ran {
			t.Fatal("the job did not run after the first finished")
		}
	})
}

// Concurrent callers share transactions; one that fails leaves nothing and spoils nothing else.
func TestGroupCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 60)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
					sub := store.Submission{ID: fmt.Sprintf("s%02d", i), Portal: "p", Reference: "r", Leistung: "l", AGS: "a",
						Route: "x", Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: time.Now()}
					if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
						return err
					}
					if i%5 == 0 {
						return fmt.Errorf("caller %d fails after writing", i)
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			_, found := st.Submission(ctx, fmt.Sprintf("s%02d", i))
			if (i%5 == 0) != (err != nil) || (err == nil) != (found == nil) {
				t.Fatalf("caller %d: error %v, lookup %v", i, err, found)
			}
		}
	})
}

// The WAL does not grow with the data written while readers and writers never pause: the
// background checkpoints let it start over (a WAL that only grows makes every read slower).
func TestWALStaysSmallUnderSteadyLoad(t *testing.T) {
	st := open(t, store.Options{Driver: store.SQLite, DataDir: t.TempDir()})
	ctx := context.Background()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				if err := st.DB.QueryRowContext(ctx, `SELECT count(*) FROM submissions`).Scan(&n); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	content := make([]byte, 64<<10)
	const rounds = 800 // 50 MiB of attachments, written over several checkpoint intervals
	for i := 0; i < rounds; i++ {
		if err := insertWithFile(st, fmt.Sprintf("s%04d", i), content); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	readers.Wait()
	fi, err := os.Stat(st.Path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if written := int64(rounds * len(content)); fi.Size() > written { // without restarts: 1.6× written
		t.Fatalf("WAL is %d MiB after writing %d MiB: it is not started over", fi.Size()>>20, written>>20)
	}
}

// Two deliveries of one submission finishing at the same moment on PostgreSQL end it delivered,
// not stuck in processing: RefreshStatus locks the submission's row before it reads the
// deliveries, so the second waits for the first to commit and then sees its outcome. (Without
// the lock the second reads with a snapshot taken before the wait.) The test holds the first
// transaction open until the second is seen waiting for the lock.
func TestConcurrentOutcomesDeriveTheRightStatus(t *testing.T) {
	st := open(t, store.Options{Driver: store.Postgres, DSN: storetest.Postgres(t)})
	ctx := context.Background()
	at := time.Now()
	if err := st.InTx(ctx, func(tx wmsql.Tx) error {
		sub := store.Submission{ID: "s1", Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
			Status: store.StatusProcessing, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: at}
		if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
			return err
		}
		for _, dest := range []string{"a", "b"} {
			if err := store.InsertDelivery(ctx, tx, "s1", dest, at); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	finish := func(tx wmsql.Tx, dest string) error {
		ok, err := store.UpdateDelivery(ctx, tx, store.Delivery{SubmissionID: "s1", Destination: dest, Status: store.DeliveryDelivered,
			Attempts: 1, UpdatedAt: at}, 0)
		if err != nil || !ok {
			return fmt.Errorf("update %s: %v %v", dest, ok, err)
		}
		return st.RefreshStatus(ctx, tx, "s1", at)
	}
	first, err := st.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := finish(wmsql.TxFromStdSQL(first), "a"); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		second <- st.InTx(ctx, func(tx wmsql.Tx) error { return finish(tx, "b") })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		st.DB.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second outcome never waited for the first")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	sub, err := st.Submission(ctx, "s1")
	if err != nil || sub.Status != store.StatusDelivered {
		t.Fatalf("status %q (%v), want delivered", sub.Status, err)
	}
}

// A member of a shared transaction keeps the copies of the pages it changes (SQLite's
// sub-journal, which lets it roll back alone) in memory rather than in a temporary file, however
// many pages it rewrites, and the write succeeds.
func TestSubJournalInMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows int // rows of 3,000 bytes, all rewritten after one savepoint
	}{
		{"about 450 KiB of pages", 150},
		{"about 9 MiB of pages", 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t, store.Options{Driver: store.SQLite, DataDir: t.TempDir()})
			ctx := context.Background()
			data := bytes.Repeat([]byte("a"), 3000)
			err := st.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
				for i := 0; i < tc.rows; i++ {
					sub := store.Submission{ID: fmt.Sprintf("s%05d", i), Portal: "p", Reference: "r", Leistung: "l", AGS: "a",
						Route: "x", Status: store.StatusReceived, Data: data, RequestHash: "h", ReceivedAt: time.Now()}
					if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var tempFiles []string
			err = st.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE submissions SET data = $1`, bytes.Repeat([]byte("b"), 3000)); err != nil {
					return err
				}
				tempFiles = sqliteTempFiles(t)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(tempFiles) > 0 {
				t.Fatalf("temporary files open during the transaction: %v", tempFiles)
			}
			var n int
			if err := st.DB.QueryRowContext(ctx, `SELECT count(*) FROM submissions WHERE data = $1`, bytes.Repeat([]byte("b"), 3000)).Scan(&n); err != nil || n != tc.rows {
				t.Fatalf("rows rewritten: %d (%v), want %d", n, err, tc.rows)
			}
		})
	}
}

// sqliteTempFiles lists the temporary files SQLite has open: files without a name (O_TMPFILE)
// or deleted at once, which the process's descriptors show as "… (deleted)".
func sqliteTempFiles(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var files []string
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasSuffix(target, " (deleted)") {
			files = append(files, target)
		}
	}
	return files
}

// ForgetFreed truncates the WAL even while the background checkpoints run: SQLite refuses a
// second checkpoint at the same time with SQLITE_BUSY at once, without asking the busy
// handler, so the two must take turns. (Retention runs ForgetFreed after its purges; a refused
// truncation left the purged data in the WAL until the next run.)
func TestForgetFreedWhileCheckpointsRun(t *testing.T) {
	st := open(t, store.Options{Driver: store.SQLite, DataDir: t.TempDir()})
	ctx := context.Background()
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() { // keeps frames in the WAL, so each background checkpoint has pages to copy
		defer writer.Done()
		content := make([]byte, 256<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := insertWithFile(st, fmt.Sprintf("s%05d", i), content); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var refused int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if err := st.ForgetFreed(ctx); err != nil {
			refused++
			t.Log(err)
		}
		time.Sleep(7 * time.Millisecond) // frames collect in between
	}
	close(stop)
	writer.Wait()
	if refused > 0 {
		t.Fatalf("ForgetFreed was refused %d times while the background checkpoints ran", refused)
	}
}

// insertWithFile stores a minimal submission with one file of the given content, through the
// group committer as intake does.
func insertWithFile(st *store.Store, id string, content []byte) error {
	sub := store.Submission{ID: id, Portal: "p", Reference: "r", Leistung: "l", AGS: "a",
		Route: "x", Status: store.StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: time.Now()}
	atts := []store.Attachment{{Filename: "a.pdf", PackageName: "a.pdf", MediaType: "application/pdf", Content: bytes.NewReader(content)}}
	return st.InGroupTx(context.Background(), func(ctx context.Context, tx wmsql.Tx) error { return store.InsertSubmission(ctx, tx, sub, atts) })
}
