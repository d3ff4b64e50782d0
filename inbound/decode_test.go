package inbound

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// Every refused body gets one problem naming the field, and for malformed JSON the place.
func TestDecodeSubmissionProblems(t *testing.T) {
	const head = `{"leistung":"99050012104000","ags":"09162000","reference":"r","data":{"a":1}`
	lim := Limits{MaxAttachments: 5, MaxAttachmentBytes: 1 << 20, MaxJSONDepth: 8}
	tests := []struct {
		name      string
		body      string
		wantField string
		wantText  string
	}{
		{"empty", "  \n", "", "body is empty"},
		{"invalid UTF-8", "{\n\"ags\": \"\xff\"}", "", "not valid UTF-8 (line 2, column 9, byte 10)"},
		{"too deep", `{"data":{"a":[[[[[[[[1]]]]]]]]}}`, "", "nested 10 levels deep; the limit is 8"},
		{"cut off", `{"leistung": "99050012104000",`, "", "ends in the middle of a value"},
		{"syntax error", "{\n  \"data\": {\"a\": [1,}\n}", "data.a[1]", "malformed JSON (line 2, column 20, byte 21)"},
		{"trailing data", head + `} {}`, "", "unexpected data after the JSON object (line 1, column 79, byte 78)"},
		{"missing comma", `{"leistung":"99050012104000" "ags":"09162000"}`, "", "malformed JSON (line 1, column 30, byte 29)"},
		{"trailing comma", `{"leistung":"99050012104000",}`, "", "malformed JSON (line 1, column 29, byte 28)"},
		{"odd names in data", `{"data":{"a.b":{"":[1,}}}}`, `data["a.b"][""][1]`, "malformed JSON"},
		{"not an object", `[1,2]`, "", "must be a JSON object, not an array"},
		{"unknown field", head + `,"leistungg":"1"}`, "leistungg", "unknown field; expected leistung, ags"},
		{"field name in another case", head + `,"Reference":"r"}`, "Reference", "unknown field"},
		{"unknown attachment field", head + `,"attachments":[{"filename":"a.pdf","size":1}]}`,
			"attachments[0].size", "expected filename, media_type, title, content_base64"},
		{"duplicate field", head + `,"ags":"09162000"}`, "ags", "appears twice"},
		{"duplicate in data", `{"data":{"a":1,"a":2}}`, "data.a", "appears twice"},
		{"wrong type", head + `,"ars":12}`, "ars", "must be a JSON string, not a number"},
		{"attachments not an array", head + `,"attachments":{}}`, "attachments", "must be a JSON array, not an object"},
		{"content not a string", head + `,"attachments":[{"content_base64":[1]}]}`, "attachments[0].content_base64", "must be a JSON string (base64)"},
		{"bad base64", head + `,"attachments":[{"filename":"a","media_type":"a/b","content_base64":"QUJD"},{"content_base64":"!!!"}]}`,
			"attachments[1].content_base64", "is not valid base64"},
		{"missing fields", `{"data":{}}`, "leistung", "14-digit"},
		{"data not an object", strings.Replace(head, `{"a":1}`, `"text"`, 1) + `}`, "data", "must be a JSON object"},
		{"unknown trust level", head + `,"identity":{"trust_level":"medium"}}`, "identity.trust_level", `"medium" is not a level of assurance`},
		{"unknown account type", head + `,"identity":{"trust_level":"hoch","account_type":"robot"}}`, "identity.account_type", "person or organisation"},
		{"unknown identity field", head + `,"identity":{"level":"high"}}`, "identity.level", "unknown field; expected trust_level, account_type"},
		{"payment without transaction", head + `,"payment":{"provider":"epay"}}`, "payment.transaction_id", "the payment platform's transactionId"},
		{"transaction id with a slash", head + `,"payment":{"transaction_id":"TX/1"}}`, "payment.transaction_id", "1 to 64 letters"},
		{"unknown payment field", head + `,"payment":{"transaction_id":"TX-1","amount":26}}`, "payment.amount", "unknown field; expected provider, transaction_id"},
		{"payment not an object", head + `,"payment":"TX-1"}`, "payment", "must be a JSON object, not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := decodeSubmission([]byte(tt.body), lim)
			if len(problems) == 0 {
				t.Fatal("accepted")
			}
			p := problems[0]
			if p.Field != tt.wantField || !strings.Contains(p.Message, tt.wantText) {
				t.Errorf("got %q: %q, want %q: …%s…", p.Field, p.Message, tt.wantField, tt.wantText)
			}
		})
	}
}

// What a portal may send: base64 wrapped in lines, nulls for optional fields, a string cut in
// the middle of an emoji (a lone surrogate, read as U+FFFD), data as is.
func TestDecodeSubmissionAccepts(t *testing.T) {
	body := `{"leistung":"99050012104000","ags":"09162000","ars":null,"reference":"r\ud83d",
	  "data":{"name":"Müller","n":[1,2.5e3]},
	  "attachments":[{"filename":"a.txt","media_type":"text/plain","content_base64":"SGFsbG8g\r\nV2VsdA=="}]}`
	req, problems := decodeSubmission([]byte(body), Limits{MaxJSONDepth: 8})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if req.ARS != "" || req.Reference != "r\uFFFD" || string(req.Data) != `{"name":"Müller","n":[1,2.5e3]}` {
		t.Errorf("decoded %+v", req)
	}
	if len(req.Attachments) != 1 || !bytes.Equal(req.Attachments[0].Content, []byte("Hallo Welt")) {
		t.Errorf("attachments %+v", req.Attachments)
	}
}

// A body of many attachments is refused as soon as the count passes the limit — not decoded
// whole first — and an answer lists at most maxProblems problems: a 1 MiB body of empty
// attachments once became a 124 MB answer and 660 MB of memory.
func TestDecodeSubmissionBoundsWorkAndAnswer(t *testing.T) {
	const head = `{"leistung":"99050012104000","ags":"09162000","reference":"r","data":{"a":1},"attachments":[`
	many := func(n int, elem string) []byte {
		return []byte(head + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + `]}`)
	}
	tests := []struct {
		name         string
		body         []byte
		lim          Limits
		wantProblems int
		wantField    string
		wantText     string
	}{
		{"over the limit", many(1<<20/3, `{}`), Limits{MaxAttachments: 20}, 1, "attachments", "more than 20 attachments; the limit is 20"},
		{"one over", many(21, `{"filename":"a","media_type":"a/b","content_base64":"QUJD"}`), Limits{MaxAttachments: 20}, 1, "attachments", "more than 20"},
		{"at the limit, every element wrong", many(20, `{}`), Limits{MaxAttachments: 20}, maxProblems, "attachments[0].filename", "must not be empty"},
		{"no limit, every element wrong", many(1000, `{}`), Limits{}, maxProblems, "attachments[0].filename", "must not be empty"},
		{"element errors keep their place", many(3, `{"filename":"a","media_type":"a/b","content_base64":"QUJD","x":1}`), Limits{MaxAttachments: 20}, 1, "attachments[0].x", "unknown field"},
		{"null attachments", []byte(strings.TrimSuffix(head, `[`) + `null}`), Limits{MaxAttachments: 20}, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			req, problems := decodeSubmission(tt.body, tt.lim)
			runtime.ReadMemStats(&after)
			if len(problems) != tt.wantProblems {
				t.Fatalf("%d problems, want %d: %v", len(problems), tt.wantProblems, problems[:min(3, len(problems))])
			}
			if tt.lim.MaxAttachments > 0 && len(req.Attachments) > tt.lim.MaxAttachments {
				t.Errorf("decoded %d attachments past the limit of %d", len(req.Attachments), tt.lim.MaxAttachments)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 40*uint64(len(tt.body))+1<<20 {
				t.Errorf("decoding a %d-byte body allocated %d bytes", len(tt.body), alloc)
			}
			if tt.wantProblems == 0 {
				return
			}
			if p := problems[0]; p.Field != tt.wantField || !strings.Contains(p.Message, tt.wantText) {
				t.Errorf("first problem %q: %q, want %q: …%s…", p.Field, p.Message, tt.wantField, tt.wantText)
			}
			if tt.wantProblems == maxProblems && !strings.Contains(problems[maxProblems-1].Message, "more problems") {
				t.Errorf("the last problem does not say how many were left out: %v", problems[maxProblems-1])
			}
		})
	}
}
