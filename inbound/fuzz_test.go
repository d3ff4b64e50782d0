package inbound

import (
	"io"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/amtsbote/amtsbote/payment"
)

// FuzzDecodeSubmission: any body is either a submission with valid fields or a list of
// problems — never a panic, never an accepted submission that breaks the rules.
func FuzzDecodeSubmission(f *testing.F) {
	demo, _ := os.ReadFile("../fixtures/demo/submission.json")
	f.Add(demo)
	f.Add([]byte(`{"leistung":"99050012104000","ags":"09162000","reference":"r","data":{},"attachments":[{"filename":"../x","media_type":"a/b","content_base64":"eA=="}]}`))
	f.Add([]byte(`{"data":` + `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]` + `}`))
	f.Add([]byte("\xff\xfe{}"))
	f.Add([]byte(`{"leistung": 1e999}`))
	f.Add([]byte(`{"leistung":"99050012104000","ags":"09162000","reference":"r","data":{},"payment":{"provider":"epay","transaction_id":"TX-1"}}`))
	lim := Limits{MaxAttachments: 5, MaxAttachmentBytes: 1 << 10, MaxJSONDepth: 16}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, problems := decodeSubmission(body, lim)
		if len(problems) > 0 {
			return
		}
		if !leistungPattern.MatchString(req.Leistung) || !agsPattern.MatchString(req.AGS) || req.Reference == "" ||
			len(req.Attachments) > lim.MaxAttachments || !utf8.Valid(body) ||
			(req.Payment != nil && !payment.ValidTransactionID(req.Payment.TransactionID)) {
			t.Fatalf("accepted an invalid submission: %+v", req)
		}
		atts, _ := attachments(req.Attachments)
		for _, a := range atts {
			if n, _ := io.Copy(io.Discard, a.Content); n > lim.MaxAttachmentBytes {
				t.Fatalf("attachment of %d bytes accepted", n)
			}
		}
	})
}
