package cli

import (
	"runtime"
	"testing"
)

// serve runs one Go processor more than the cores, unless GOMAXPROCS is set.
func TestRaiseProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	for _, c := range []struct {
		name       string
		env        string
		wantN      int
		wantRaised bool
	}{
		{"unset: one more", "", before + 1, true},
		{"set: left alone", "3", before, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			runtime.GOMAXPROCS(before)
			n, raised := raiseProcs(func(k string) string {
				if k != "GOMAXPROCS" {
					t.Fatalf("read %s", k)
				}
				return c.env
			})
			if n != c.wantN || raised != c.wantRaised || runtime.GOMAXPROCS(0) != c.wantN {
				t.Errorf("got %d, %v (GOMAXPROCS now %d), want %d, %v", n, raised, runtime.GOMAXPROCS(0), c.wantN, c.wantRaised)
			}
		})
	}
}
