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

// bench needs exactly one of --target and --start, a size it can read, and for a scenario
// --start, --wait-delivered and sensible values; each refusal says which flag is wrong.
func TestBenchUsageErrors(t *testing.T) {
	demo := "../fixtures/demo/amtsbote.yaml"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--count", "1"}, "--target URL"},
		{[]string{"--count", "1", "--target", "http://127.0.0.1:1", "--start", "x.yaml"}, "--target URL"},
		{[]string{"--count", "1", "--target", "http://127.0.0.1:1", "--attachment-size", "huge"}, "--attachment-size"},
		{[]string{"--count", "1", "--target", "http://127.0.0.1:1", "--slow-destination", "1s", "--wait-delivered", "1m"}, "need --start CONFIG"},
		{[]string{"--count", "1", "--start", demo, "--slow-destination", "1s"}, "give --wait-delivered"},
		{[]string{"--count", "1", "--start", demo, "--slow-destination", "-1s", "--wait-delivered", "1m"}, "--slow-destination -1s"},
		{[]string{"--count", "1", "--start", demo, "--slow-destination", "1s", "--shape", "20x5", "--wait-delivered", "1m"}, "give one of them"},
		{[]string{"--count", "1", "--start", demo, "--shape", "20", "--wait-delivered", "1m"}, "--shape: \"20\" is not a shape"},
		{[]string{"--count", "1", "--start", demo, "--shape", "20x5", "--wait-delivered", "1m", "--rounds", "0"}, "--rounds 0"},
		{[]string{"--count", "1", "--start", demo, "--slow-destination", "1s", "--wait-delivered", "1m", "--slow-max-in-flight", "0"}, "--slow-max-in-flight 0"},
		{[]string{"--count", "1", "--start", demo, "--shape", "2x2", "--wait-delivered", "1m", "--submission", "../fixtures/demo/nothing.json"}, "submission file"},
	} {
		code, _, errOut := runCLI(append([]string{"bench"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, "amtsbote:") || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %s; want 2 and %q", c.args, code, errOut, c.want)
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
