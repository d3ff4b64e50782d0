package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
	"github.com/amtsbote/amtsbote/store"
)

// BenchmarkFitConnectEndToEnd sends a batch of applications (10 KB of form data, one 100 KB
// attachment) through the simulator on loopback and measures, from the first submit to the
// last delivery, how many amtsbote accepts and delivers per second; "portal" sends the same
// applications to the HTTP API of the same daemon configuration, for comparison in the same
// minutes. The simulator and the sender run in the test process too.
//
//	go test ./daemon -run XXX -bench FitConnectEndToEnd -benchtime 1x
func BenchmarkFitConnectEndToEnd(b *testing.B) {
	const batch = 150
	for _, via := range []string{"portal", "fitconnect"} {
		b.Run(via, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rate := runEndToEnd(b, via, batch)
				b.ReportMetric(rate, "delivered/s")
			}
		})
	}
}

func runEndToEnd(b *testing.B, via string, batch int) float64 {
	b.StopTimer()
	e := startFitConnect(b, "sqlite", func(c *config.Config) {
		c.FitConnect.Subscriptions[0].PollInterval = time.Hour // callbacks announce
		c.Log.Level = "error"
		c.Server.RatePerSecond = 0 // a load test, not a portal
	})
	app := e.application(b)
	var m map[string]any
	json.Unmarshal(app.Data, &m)
	m["betrieb"].(map[string]any)["taetigkeit"] = strings.Repeat("Herstellung und Verkauf von Backwaren. ", 250)
	app.Data, _ = json.Marshal(m)
	app.Attachments = []sender.Attachment{{Filename: "scan.pdf", MimeType: "application/pdf", Content: make([]byte, 100<<10)}}
	copy(app.Attachments[0].Content, "%PDF-1.7\n")
	// Prepared and sealed before the clock starts: the sender's encryption is not amtsbote's.
	sealed := make([]*sender.Prepared, batch)
	portal := make([]map[string]any, batch)
	for i := range sealed {
		p := sender.Prepare(app)
		if err := p.Seal(e.pub); err != nil {
			b.Fatal(err)
		}
		sealed[i] = p
		sub := demoSubmission(b)
		sub["reference"] = fmt.Sprintf("BENCH-%04d", i)
		sub["data"] = m
		sub["attachments"] = []any{map[string]any{"filename": "scan.pdf", "media_type": "application/pdf",
			"content_base64": base64.StdEncoding.EncodeToString(app.Attachments[0].Content)}}
		portal[i] = sub
	}
	start := time.Now()
	b.StartTimer()
	ids := make([]string, batch)
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if via == "portal" {
					r := e.harness.submit(portal[i], demoToken, nil)
					if r.Status != 202 {
						b.Errorf("%d %s", r.Status, r.Raw)
						continue
					}
					ids[i] = r.Body["id"].(string)
					continue
				}
				if err := e.send.Send(context.Background(), sealed[i]); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < batch; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	for i := range ids {
		if via == "fitconnect" {
			deadline := time.Now().Add(2 * time.Minute)
			for {
				entry, err := e.d.Store().InboxEntry(context.Background(), sealed[i].SubmissionID)
				if err == nil && entry.AmtsboteID != "" {
					ids[i] = entry.AmtsboteID
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("not accepted: %s", sealed[i].SubmissionID)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			s, err := e.d.Store().Submission(context.Background(), ids[i])
			if err == nil && s.Status == store.StatusDelivered {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("not delivered: %s (%s)", ids[i], s.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	return float64(batch) / elapsed.Seconds()
}
