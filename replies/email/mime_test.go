package email

import (
	"mime"
	"strings"
	"testing"
)

// TestParamsRoundTrip: a parameter written by withParams reads back the same with
// mime.ParseMediaType, on lines of at most 78 characters.
func TestParamsRoundTrip(t *testing.T) {
	tests := []struct {
		value string
		want  string // in the header
	}{
		{"Bescheid.pdf", "filename=Bescheid.pdf"},
		{"Bescheid vom 17.03.pdf", `filename="Bescheid vom 17.03.pdf"`},
		{`Zitat "a" \ b.pdf`, `filename="Zitat \"a\" \\ b.pdf"`},
		{"Bescheid für Müller.pdf", "filename*=utf-8''Bescheid%20f%C3%BCr%20M%C3%BCller.pdf"},
		{strings.Repeat("a", 70) + ".pdf", "filename*0*=utf-8''aaaa"},
		{strings.Repeat(`"`, 40) + ".pdf", "filename*0*=utf-8''%22"},
		{strings.Repeat("Ä", 100) + ".pdf", "filename*3*="},
	}
	for _, tt := range tests {
		header := withParams("attachment", [2]string{"filename", tt.value})
		if !strings.Contains(header, tt.want) {
			t.Errorf("%q: header %q lacks %q", tt.value, header, tt.want)
		}
		for _, line := range strings.Split("Content-Disposition: "+header, "\r\n") {
			if len(line) > 78 {
				t.Errorf("%q: line of %d characters: %q", tt.value, len(line), line)
			}
		}
		_, params, err := mime.ParseMediaType(strings.ReplaceAll(header, "\r\n", ""))
		if err != nil || params["filename"] != tt.value {
			t.Errorf("%q: reads back as %q (%v)", tt.value, params["filename"], err)
		}
	}
}
