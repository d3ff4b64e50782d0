package routes_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/routes"
)

func write(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const table = `routes:
  - id: munich-exact
    match: {leistung: ["99050012104000"], ags: ["09162000"]}
    mapping: m
    schema: s
    destinations: [a]
  - id: bavaria-prefix
    match: {leistung: ["99050012104000"], ags: ["09*"]}
    mapping: m
    schema: s
    destinations: [b]
  - id: any-ags
    match: {leistung: ["99001001000000"]}
    mapping: m
    schema: s
    destinations: [c]
`

func TestFirstMatchingRouteWins(t *testing.T) {
	tbl, err := routes.Load(write(t, table))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		leistung, ags, want string
	}{
		{"99050012104000", "09162000", "munich-exact"},
		{"99050012104000", "09564000", "bavaria-prefix"},
		{"99001001000000", "05315000", "any-ags"},
		{"99050012104000", "05315000", ""},
		{"11111111111111", "09162000", ""},
	}
	for _, tt := range tests {
		r, ok := tbl.Match(tt.leistung, tt.ags)
		got := ""
		if ok {
			got = r.ID
		}
		if got != tt.want {
			t.Errorf("Match(%s, %s) = %q, want %q", tt.leistung, tt.ags, got, tt.want)
		}
	}
}

func TestRouteErrorsCarryFileAndLine(t *testing.T) {
	path := write(t, `routes:
  - id: ok
    mapping: m
    schema: s
    destinations: [a]
  - id: Bad Id
    match: {leistung: ["123"], ags: ["0916200"]}
    destinations: []
  - id: ok
    mapping: m
    schema: s
    destinations: [a]
`)
	_, err := routes.Load(path)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		path + ":6: route \"Bad Id\": id must match",
		path + ":6: route \"Bad Id\": match.leistung \"123\"",
		path + ":6: route \"Bad Id\": match.ags \"0916200\"",
		path + ":6: route \"Bad Id\": mapping must name",
		path + ":6: route \"Bad Id\": destinations must list",
		path + ":9: route id \"ok\" is already used at " + path + ":2",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestUnknownRouteKeyIsAnError(t *testing.T) {
	_, err := routes.Load(write(t, "routes:\n  - id: a\n    mapping: m\n    schema: s\n    destination: [x]\n"))
	if err == nil || !strings.Contains(err.Error(), "destination") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("want an error naming the unknown key and its line, got %v", err)
	}
}
