package console

import (
	"net/url"
	"strings"
	"testing"
)

// Whatever the sign-in's "weiter" says, the redirect stays on a path of the console.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/unzustellbar?ziel=eakte", "//evil.example", "/\\evil.example", "https://evil.example/",
		"javascript:alert(1)", "/%2F%2Fevil.example", "/a\r\nLocation: x", "", "/anmelden?weiter=//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := localPath(in)
		if got != "/" && got != in {
			t.Fatalf("localPath(%q) = %q: neither the input nor /", in, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("localPath(%q) = %q leaves the console", in, got)
		}
	})
}
