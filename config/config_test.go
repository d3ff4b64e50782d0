package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
)

const minimal = `
portals:
  - id: p
    token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354
destinations:
  - id: eakte
    type: filedrop
    options: {path: out}
`

func write(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amtsbote.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDemoConfigLoads(t *testing.T) {
	cfg, err := config.Load("../" + config.DefaultFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Storage.DataDir != "var/demo" || len(cfg.Destinations) != 5 ||
		cfg.Receipts.Directory != "var/demo/inbox" || cfg.Replies.PrintDestination != "druckdienst" {
		t.Fatalf("unexpected demo config: %+v", cfg)
	}
	if got := cfg.Path(cfg.RoutesFile); got != "../fixtures/demo/routes.yaml" {
		t.Fatalf("routes file resolved to %q, want it beside the config file", got)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := config.Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Destinations[0].Retry
	if cfg.TimeZone != "Europe/Berlin" || cfg.Location().String() != "Europe/Berlin" {
		t.Fatalf("time zone %q, want Europe/Berlin whatever TZ says", cfg.TimeZone)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.MaxBodyBytes != 32<<20 ||
		cfg.Pipeline.PollInterval != 100*time.Millisecond || r.MaxAge != 72*time.Hour || r.MaxAttempts != 50 {
		t.Fatalf("defaults not applied: %+v %+v", cfg.Server, r)
	}
	if cfg.Replies.MaxDocumentBytes != 20<<20 || cfg.Replies.MaxDocuments != 20 {
		t.Fatalf("reply limits not defaulted: %+v", cfg.Replies)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	t.Setenv("AMTSBOTE_SERVER_LISTEN", "127.0.0.1:9999")
	t.Setenv("AMTSBOTE_STORAGE_DATA_DIR", "/tmp/elsewhere")
	t.Setenv("AMTSBOTE_PIPELINE_POLL_INTERVAL", "250ms")
	t.Setenv("AMTSBOTE_PIPELINE_CALLBACK_RETRY_MAX_ATTEMPTS", "7")
	t.Setenv("AMTSBOTE_TRACING_INSECURE", "true")
	cfg, err := config.Load(write(t, "server:\n  listen: 127.0.0.1:1111\n"+minimal))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:9999" || cfg.Storage.DataDir != "/tmp/elsewhere" || cfg.Pipeline.PollInterval != 250*time.Millisecond ||
		cfg.Pipeline.CallbackRetry.MaxAttempts != 7 || !cfg.Tracing.Insecure {
		t.Fatalf("env overrides not applied: %+v %+v %+v", cfg.Server, cfg.Storage, cfg.Pipeline)
	}
}

// A YAML syntax error reads FILE:LINE:COLUMN: message like every other problem, without the
// parser's "yaml: line N:".
func TestYAMLErrorsNameLineAndColumn(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"indentation", "server:\n  listen: a\n   bad: x\n" + minimal, ":3:7: mapping values are not allowed in this context"},
		{"unclosed flow", "server: [\n", ":2:1: did not find expected node content"},
		{"tab", "server:\n\tlisten: a\n" + minimal, ":2:1: found character that cannot start any token"},
		{"duplicate key", minimal + "portals: []\n", `:9: mapping key "portals" already defined at line 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.content)
			_, err := config.Load(path)
			if err == nil || err.Error() != path+tt.want {
				t.Fatalf("err = %v\nwant %s", err, path+tt.want)
			}
		})
	}
}

func TestConfigErrorsNameFileAndKey(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"unknown top-level key", "servr:\n  listen: x\n" + minimal, []string{"unknown keys", "servr"}},
		{"unknown nested key", "server:\n  listn: x\n" + minimal, []string{"unknown keys", "listn"}},
		{"bad duration", "server:\n  shutdown_timeout: soon\n" + minimal, []string{"shutdown_timeout"}},
		{"bad token hash", strings.Replace(minimal, "eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354", "secret", 1),
			[]string{"portals[0].token_sha256", "64 hex digits"}},
		{"no portals", "destinations: []\n", []string{"portals", "at least one portal"}},
		{"bad destination id and unknown driver", "storage:\n  driver: mysql\n" + strings.Replace(minimal, "id: eakte", "id: E-Akte", 1),
			[]string{"storage.driver", `"mysql"`, "destinations[0].id"}},
		{"bad log format", "log:\n  format: xml\n" + minimal, []string{"log.format"}},
		{"batch that never matches", strings.Replace(minimal, "options: {path: out}", "options: {path: out}\n    batch: \"* * 30 2 *\"", 1),
			[]string{"destinations[0].batch", "matches no time"}},
		{"window that never matches", strings.Replace(minimal, "options: {path: out}", "options: {path: out}\n    window: \"* * 31 4 *\"", 1),
			[]string{"destinations[0].window", "matches no time"}},
		{"window as an interval", strings.Replace(minimal, "options: {path: out}", "options: {path: out}\n    window: \"@every 1h\"", 1),
			[]string{"destinations[0].window", "interval"}},
		{"retention that never runs", "retention:\n  schedule: \"0 0 30 2 *\"\n" + minimal, []string{"retention.schedule", "matches no time"}},
		{"unknown time zone", "time_zone: Europe/Bonn\n" + minimal, []string{"time_zone", "Europe/Bonn"}},
		{"bad reply token hash", strings.Replace(minimal, "options: {path: out}", "options: {path: out}\n    reply_token_sha256: secret", 1),
			[]string{"destinations[0].reply_token_sha256", "64 hex digits"}},
		{"two destinations with one reply token", minimal + `    reply_token_sha256: 8806266d06fb77fad46ced37e661acbbe6a96f732347c97e16e6a3c73a236213
  - id: fv
    type: filedrop
    options: {path: out2}
    reply_token_sha256: 8806266D06FB77FAD46CED37E661ACBBE6A96F732347C97E16E6A3C73A236213
`, []string{"destinations[1].reply_token_sha256", "same as eakte's"}},
		{"negative reply limit", "replies:\n  max_documents: -1\n" + minimal, []string{"replies", "must not be negative"}},
		{"admin user with a bad name and role", "admin:\n  users:\n    - {name: Anna Schmidt, role: boss, token_sha256: 8806266d06fb77fad46ced37e661acbbe6a96f732347c97e16e6a3c73a236213}\n" + minimal,
			[]string{"admin.users[0].name", "lower-case", "admin.users[0].role", `"boss"`}},
		{"admin users sharing a token", "admin:\n  token_sha256: 8806266d06fb77fad46ced37e661acbbe6a96f732347c97e16e6a3c73a236213\n  users:\n    - {name: anna, role: viewer, token_sha256: 8806266D06FB77FAD46CED37E661ACBBE6A96F732347C97E16E6A3C73A236213}\n    - {name: admin, role: viewer, token_sha256: x}\n" + minimal,
			[]string{"admin.users[0].token_sha256", "same token as admin.token_sha256", "admin.users[1].name", "taken", "admin.users[1].token_sha256", "64 hex digits"}},
		{"session idle longer than its maximum", "admin:\n  session_idle: 9h\n" + minimal, []string{"admin.session_idle", "longer than session_max_age"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.content)
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, want := range append(tt.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// The zone is loaded once per name; an empty or unknown name gives UTC.
func TestLocation(t *testing.T) {
	for _, tc := range []struct{ zone, want string }{
		{"Europe/Berlin", "Europe/Berlin"},
		{"America/New_York", "America/New_York"},
		{"", "UTC"},
		{"Mars/Olympus_Mons", "UTC"},
	} {
		c := &config.Config{TimeZone: tc.zone}
		first, second := c.Location(), c.Location()
		if first.String() != tc.want || first != second {
			t.Errorf("zone %q: got %v then %v, want %s both times, the same", tc.zone, first, second, tc.want)
		}
	}
}
