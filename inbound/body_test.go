package inbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The body is read whole whether or not its length is declared; a body cut short of its
// declared length, or one over the limit, is an error.
func TestReadBody(t *testing.T) {
	const limit = 64
	body := strings.Repeat("x", 40)
	tests := []struct {
		name     string
		content  string
		length   int64
		want     string
		wantErr  error
		tooLarge bool
	}{
		{"declared length", body, 40, body, nil, false},
		{"no declared length", body, -1, body, nil, false},
		{"empty", "", 0, "", nil, false},
		{"cut short of the declared length", body[:10], 40, body[:10], io.ErrUnexpectedEOF, false},
		{"declared over the limit", strings.Repeat("x", 100), 100, "", nil, true},
		{"undeclared over the limit", strings.Repeat("x", 100), -1, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(tt.content)), limit)
			got, err := readBody(r, tt.length, limit)
			if tt.tooLarge {
				var mbe *http.MaxBytesError
				if !errors.As(err, &mbe) {
					t.Fatalf("error %v, want the limit's", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}
}
