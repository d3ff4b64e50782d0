package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A submission that failed against a too-strict JSON Schema is reprocessed after the schema was
// fixed: the next start delivers it. The selection flags are checked for mistakes.
func TestReprocessCommand(t *testing.T) {
	dir, cfgFile := deadLetterDemo(t)
	edit(t, cfgFile, "max_attempts: 1", "max_attempts: 50")
	edit(t, filepath.Join(dir, "amtsbote.yaml"), "path: "+filepath.Join(dir, "out/eakte"), "path: "+filepath.Join(dir, "out/eakte-ok"))
	schema := filepath.Join(dir, "schemas/gewerbeanmeldung.schema.json")
	edit(t, schema, `"required": ["inhaber", "betrieb"]`, `"required": ["inhaber", "betrieb", "zusatz"]`)
	id := runDaemonUntil(t, cfgFile, "failed", "")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"neither id nor status", nil, 2, "name one submission id, or --status failed"},
		{"both id and status", []string{id, "--status", "failed"}, 2, "name one submission id"},
		{"dead is replayed", []string{"--status", "dead"}, 2, "dlq replay"},
		{"route with an id", []string{id, "--route", "x"}, 2, "--route and --since select with --status failed"},
		{"bad since", []string{"--status", "failed", "--since", "yesterday"}, 2, `--since "yesterday"`},
		{"unknown id", []string{"00000000-0000-0000-0000-000000000000"}, 2, "no submission"},
		{"other route selects none", []string{"--status", "failed", "--route", "other"}, 0, "0 submissions queued"},
		{"since later selects none", []string{"--status", "failed", "--since", time.Now().Add(time.Hour).Format(time.RFC3339)}, 0, "0 submissions queued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"reprocess", "--config", cfgFile}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tt.wantCode, tt.want, out, errOut)
			}
		})
	}

	edit(t, schema, `"required": ["inhaber", "betrieb", "zusatz"]`, `"required": ["inhaber", "betrieb"]`)
	code, out, errOut := runCLI("reprocess", "--config", cfgFile, "--status", "failed", "--route", "gewerbeanmeldung", "--since", "1h", "--as", "ops-bernd")
	if code != 0 || !strings.Contains(out, "reprocessing "+id) || !strings.Contains(out, "1 submissions queued") {
		t.Fatalf("reprocess: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI("reprocess", id, "--config", cfgFile); code != 2 || !strings.Contains(errOut, "is received, not failed") {
		t.Fatalf("reprocessing a queued submission again: exit %d %s", code, errOut)
	}
	runDaemonUntil(t, cfgFile, "delivered", id)
}
