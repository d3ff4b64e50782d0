package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"syscall"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
)

// A delivery's reads (the submission, its attachment list, three files' content in one read
// transaction) when no other connection has written since the connection's last read — its
// page cache is still valid — and after another connection has written, which makes SQLite drop
// the reading connection's page cache. "write only" is that other connection's write alone, so
// the cost of reading with a dropped cache is "write, then reads" less "write only".
func BenchmarkReadsAfterWrite(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenWith(ctx, store.Options{Driver: "sqlite", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const subs = 2000
	sizes := []int{200, 70, 6_000}
	for i := range subs {
		err := st.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
			sub := store.Submission{ID: benchID(i), Portal: "p", Reference: benchID(i), Leistung: "l", AGS: "a", Route: "r",
				Status: store.StatusReceived, Data: []byte(`{"a":1}`), RequestHash: "h", ReceivedAt: time.Now()}
			atts := make([]store.Attachment, len(sizes))
			for j, n := range sizes {
				content := make([]byte, n)
				rand.Read(content)
				atts[j] = store.Attachment{Seq: j, Filename: "f", PackageName: "f", MediaType: "application/octet-stream",
					SHA256: "h", Content: bytes.NewReader(content)}
			}
			return store.InsertSubmission(ctx, tx, sub, atts)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// Another connection, as the pipeline's writers are: it writes a table of its own.
	other, err := sql.Open("sqlite3", "file:"+st.Path+"?_busy_timeout=5000&_sync=0")
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`CREATE TABLE IF NOT EXISTS bench_noise (x INTEGER)`); err != nil {
		b.Fatal(err)
	}
	write := func(i int) {
		if _, err := other.Exec(`INSERT INTO bench_noise (x) VALUES (?)`, i); err != nil {
			b.Fatal(err)
		}
	}
	reads := func(i int) {
		id := benchID(i % subs)
		r, err := st.BeginReads(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer r.End()
		if _, err := r.Submission(ctx, id); err != nil {
			b.Fatal(err)
		}
		atts, err := r.Attachments(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range atts {
			if _, err := r.AttachmentContent(ctx, id, a.Seq, a.Size); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name        string
		write, read bool
	}{{"reads only", false, true}, {"write, then reads", true, true}, {"write only", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			before := cpu(b)
			i := 0
			for b.Loop() {
				i++
				if c.write {
					write(i)
				}
				if c.read {
					reads(i * 7919)
				}
			}
			b.ReportMetric(float64((cpu(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func benchID(i int) string { return fmt.Sprintf("0190a5c4-0000-7000-8000-%012d", i) }

func cpu(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
