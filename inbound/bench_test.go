package inbound

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// benchBody is the demo submission padded to about 10 KB of form data, with one 100 KB file.
func benchBody(b *testing.B) []byte {
	b.Helper()
	raw, err := os.ReadFile("../fixtures/demo/submission.json")
	if err != nil {
		b.Fatal(err)
	}
	var sub map[string]any
	json.Unmarshal(raw, &sub)
	sub["data"].(map[string]any)["bemerkung"] = strings.Repeat("Lorem ipsum dolor sit amet. ", 320)
	content := make([]byte, 100_000)
	rand.Read(content)
	sub["attachments"] = []any{map[string]any{"filename": "nachweis.pdf", "media_type": "application/pdf",
		"content_base64": base64.StdEncoding.EncodeToString(content)}}
	body, _ := json.Marshal(sub)
	return body
}

// Intake's CPU work on a request body: checks, JSON decoding and base64 decoding.
func BenchmarkDecodeSubmission(b *testing.B) {
	body := benchBody(b)
	lim := Limits{MaxAttachments: 20, MaxAttachmentBytes: 20 << 20, MaxJSONDepth: 32}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, problems := decodeSubmission(body, lim)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		if atts, _ := attachments(req.Attachments); len(atts) != 1 {
			b.Fatal("no attachment")
		}
	}
}

func TestJSONDepth(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`{}`, 1},
		{`{"a":[1,{"b":2}]}`, 3},
		{`{"a":"[[[{{{"}`, 1},
		{`{"a":"x\"[[[","b":[[1]]}`, 3},
		{`{"a":"\\","b":[]}`, 2},
		{`{"a":"\\\"{{","b":{}}`, 2},
		{`[[["unterminated`, 3},
	} {
		if got := jsonDepth([]byte(c.in)); got != c.want {
			t.Errorf("jsonDepth(%s) = %d, want %d", c.in, got, c.want)
		}
	}
}
