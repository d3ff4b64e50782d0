package formdoc

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzRender feeds arbitrary bytes as form data. Render may reject them, but
// only with an ErrInvalidData error, and must never panic; what it accepts
// must come out as a finished PDF/A file.
func FuzzRender(f *testing.F) {
	f.Add(demoData(f))
	for _, seed := range []string{
		`{}`, `[]`, `null`, `"x"`, `{"a": null}`, `{"a": [1, [2, [3]], {"b": {}}]}`,
		`{"t": "2026-01-15T10:30:00Z", "d": "1985-04-12", "n": 2.5e-3, "b": false}`,
		`{"s": "中文 😀 \u0000 \ud800 \t\r\n Łódź"}`, `{"a": 1} trailing`, `{"": {"": [""]}}`,
		`{"` + string(bytes.Repeat([]byte("x"), 500)) + `": "y"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Document{
			Title:        "Fuzz",
			SubmissionID: "F-1",
			ReceivedAt:   time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC),
			Data:         data,
			Labels:       Labels{Fields: map[string]string{"a": "A"}, Hide: []string{"h"}},
			Producer:     "amtsbote",
		}
		pdf, err := Render(d)
		if err != nil {
			if !errors.Is(err, ErrInvalidData) {
				t.Fatalf("error not caused by the data: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(pdf, []byte("%PDF-"+PDFVersion+"\n"+binaryComment)) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
			t.Fatalf("not a finished PDF: %q … %q", pdf[:min(20, len(pdf))], pdf[max(0, len(pdf)-20):])
		}
	})
}
