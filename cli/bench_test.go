package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/bench"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"100", 100, true}, {"100KB", 100_000, true}, {"10KiB", 10_240, true},
		{"50MB", 50_000_000, true}, {"1MiB", 1 << 20, true}, {"2 MB", 2_000_000, true},
		{"", 0, false}, {"-1", 0, false}, {"ten", 0, false}, {"5GB", 0, false},
	} {
		got, err := parseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}

// bench needs exactly one of --target and --start, and a size it can read.
func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--count", "1"},
		{"bench", "--count", "1", "--target", "http://127.0.0.1:1", "--start", "x.yaml"},
		{"bench", "--count", "1", "--target", "http://127.0.0.1:1", "--attachment-size", "huge"},
	} {
		code, _, errOut := runCLI(args...)
		if code != 2 || !strings.Contains(errOut, "amtsbote:") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
}

func TestPerSubmission(t *testing.T) {
	c := bench.CPU{User: 4 * time.Second, System: time.Second}
	for _, tt := range []struct {
		accepted int
		want     string
	}{
		{1000, " (4.00 ms user + 1.00 ms system per accepted submission)"},
		{0, ""},
	} {
		if got := perSubmission(c, tt.accepted); got != tt.want {
			t.Errorf("perSubmission(%d) = %q, want %q", tt.accepted, got, tt.want)
		}
	}
}
