package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// Storing a submission durably — 10 KB of form data and a 100 KB file, plus its queue message —
// one caller at a time (a commit each) and from 32 callers at once (group commit). The shape
// "demo" is the benchmark body instead (bench/body9k: 600 bytes of form data and three files
// of 200 bytes, 70 bytes and 6 KB), whose cost is the statements rather than the bytes.
func BenchmarkStoreSubmission(b *testing.B) {
	type file struct {
		name string
		size int
	}
	shapes := []struct {
		name  string
		data  int
		files []file
	}{
		{"large", 640, []file{{"a.pdf", 100_000}}},
		{"demo", 36, []file{{"a.pdf", 200}, {"b.xml", 70}, {"c.pdf", 6_000}}},
	}
	for _, shape := range shapes {
		for _, backend := range []string{"sqlite", "postgres"} {
			for _, callers := range []int{1, 32} {
				b.Run(fmt.Sprintf("%s/%s/callers=%d", shape.name, backend, callers), func(b *testing.B) {
					o := store.Options{Driver: backend, DataDir: b.TempDir()}
					if backend == "postgres" {
						o.DSN = postgresForBench(b)
					}
					st, err := store.OpenWith(context.Background(), o)
					if err != nil {
						b.Fatal(err)
					}
					defer st.Close()
					if err := st.PrepareQueues(context.Background(), []string{"submissions", "callbacks"}, "callbacks"); err != nil {
						b.Fatal(err)
					}
					data := bytes.Repeat([]byte(`{"feld":"Wert"},`), shape.data)
					data = append(append([]byte(`{"a":[`), data[:len(data)-1]...), ']', '}')
					contents := make([][]byte, len(shape.files))
					for i, f := range shape.files {
						contents[i] = make([]byte, f.size)
						rand.Read(contents[i])
					}
					var n atomic.Int64
					b.ReportAllocs()
					b.SetParallelism(callers)
					b.ResetTimer()
					before := cpu(b)
					defer func() { b.ReportMetric(float64((cpu(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							id := fmt.Sprintf("s%09d", n.Add(1))
							err := st.InGroupTx(context.Background(), func(ctx context.Context, tx wmsql.Tx) error {
								sub := store.Submission{ID: id, Portal: "p", Reference: id, Leistung: "l", AGS: "a", Route: "r",
									Status: store.StatusReceived, Data: data, RequestHash: "h", ReceivedAt: time.Now()}
								atts := make([]store.Attachment, len(shape.files))
								for i, f := range shape.files {
									atts[i] = store.Attachment{Seq: i, Filename: f.name, PackageName: f.name, MediaType: "application/octet-stream",
										SHA256: "hashed by intake", Content: bytes.NewReader(contents[i])}
								}
								if err := store.InsertSubmission(ctx, tx, sub, atts); err != nil {
									return err
								}
								return queue.Publish(tx, "submissions", newMessage(id))
							})
							if err != nil {
								b.Fatal(err)
							}
						}
					})
				})
			}
		}
	}
}

func newMessage(id string) *message.Message { return message.NewMessage(id, []byte(id)) }

func postgresForBench(b *testing.B) string {
	if os.Getenv(storetest.EnvPostgres) == "" {
		b.Skipf("%s not set", storetest.EnvPostgres)
	}
	return storetest.Postgres(b)
}
