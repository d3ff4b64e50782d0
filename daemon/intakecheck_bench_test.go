package daemon_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
)

// BenchmarkIntakeCheck measures the HTTP intake of the demo submission (two attachments, the
// pipeline running beside it on the same daemon, SQLite) on a route without checks, with the
// route's json_schema, and with check_at_intake (the readable application, both targets'
// mapping and validation as a dry run before the answer). ns/op is per accepted submission with
// 8 clients in parallel.
//
//	go test ./daemon -run XXX -bench IntakeCheck -benchtime 400x
func BenchmarkIntakeCheck(b *testing.B) {
	for _, c := range []struct{ name, add string }{
		{"off", ""},
		{"json_schema", "    json_schema: schemas/gewerbeanmeldung.schema.json\n"},
		{"check_at_intake", "    json_schema: schemas/gewerbeanmeldung.schema.json\n    check_at_intake: true\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := demoCopy(b)
			if c.add != "" {
				replaceIn(b, filepath.Join(dir, "routes.yaml"), "    targets:\n", c.add+"    targets:\n")
			}
			replaceIn(b, filepath.Join(dir, "amtsbote.yaml"), "log: {level: warn}", "log: {level: error}")
			replaceIn(b, filepath.Join(dir, "amtsbote.yaml"), "shutdown_timeout: 5s}", "shutdown_timeout: 5s, rate_per_second: 0}")
			h := startFile(b, filepath.Join(dir, "amtsbote.yaml"))
			body, _ := json.Marshal(demoSubmission(b))
			url := h.base + "/v1/submissions"
			b.SetParallelism(4) // × GOMAXPROCS clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+demoToken)
					req.Header.Set("Content-Type", "application/json")
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					res.Body.Close()
					if res.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
		})
	}
}
