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
// one caller at a time (a commit each) and from 32 callers at once (group commit).
func BenchmarkStoreSubmission(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, callers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/callers=%d", backend, callers), func(b *testing.B) {
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
				data := bytes.Repeat([]byte(`{"feld":"Wert"},`), 640)
				data = append(append([]byte(`{"a":[`), data[:len(data)-1]...), ']', '}')
				file := make([]byte, 100_000)
				rand.Read(file)
				var n atomic.Int64
				b.ReportAllocs()
				b.SetParallelism(callers)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := fmt.Sprintf("s%09d", n.Add(1))
						err := st.InGroupTx(context.Background(), func(ctx context.Context, tx wmsql.Tx) error {
							sub := store.Submission{ID: id, Portal: "p", Reference: id, Leistung: "l", AGS: "a", Route: "r",
								Status: store.StatusReceived, Data: data, RequestHash: "h", ReceivedAt: time.Now()}
							atts := []store.Attachment{{Seq: 0, Filename: "a.pdf", PackageName: "a.pdf", MediaType: "application/pdf", SHA256: "hashed by intake", Content: bytes.NewReader(file)}}
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

func newMessage(id string) *message.Message { return message.NewMessage(id, []byte(id)) }

func postgresForBench(b *testing.B) string {
	if os.Getenv(storetest.EnvPostgres) == "" {
		b.Skipf("%s not set", storetest.EnvPostgres)
	}
	return storetest.Postgres(b)
}
