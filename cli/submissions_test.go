package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store"
)

// submissionsDemo is the demo configuration with a store of 7 submissions, one of them
// failed with a delivery and a multi-line event, one purged.
func submissionsDemo(t *testing.T) string {
	t.Helper()
	_, cfgFile := deadLetterDemo(t)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.OpenWith(ctx, daemon.StoreOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	err = st.InTx(ctx, func(tx wmsql.Tx) error {
		for i := 0; i < 7; i++ {
			status := store.StatusDelivered
			if i == 4 {
				status = store.StatusFailed
			}
			sub := store.Submission{ID: fmt.Sprintf("sub-%d", i), Portal: "demo-portal", Reference: fmt.Sprintf("AZ %d", i),
				Leistung: "99050012104000", AGS: "09162000", Route: "gewerbeanmeldung", Status: status,
				Data: []byte(`{"name": "Erika Mustermann"}`), RequestHash: "h", ReceivedAt: base.Add(time.Duration(i) * time.Hour)}
			if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
				return err
			}
		}
		if err := store.InsertDelivery(ctx, tx, "sub-4", "eakte", base); err != nil {
			return err
		}
		if err := store.AddEvent(ctx, tx, "sub-4", store.Event{At: base.Add(4 * time.Hour), Type: "validation_failed",
			Destination: "eakte", Detail: "2 problems:\nline 3: betrieb missing\nline 9: bad date"}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE submissions SET purged_at = $1 WHERE id = 'sub-0'`, base.UnixMilli())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfgFile
}

func TestSubmissionsCommand(t *testing.T) {
	cfgFile := submissionsDemo(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
		not      []string
	}{
		{"list all", []string{"list"}, 0, []string{"RECEIVED (Europe/Berlin)", "2026-12-01 16:00:00       sub-6", "sub-0  delivered (purged)", "7 submissions\n"},
			[]string{"next page", "Erika"}},
		{"by status", []string{"list", "--status", "failed"}, 0, []string{"sub-4  failed", "1 submissions"}, []string{"sub-3"}},
		{"by reference", []string{"list", "--reference", "AZ 2"}, 0, []string{"sub-2", "1 submissions"}, nil},
		{"time range in the zone", []string{"list", "--from", "2026-12-01T11:00", "--to", "2026-12-01T13:00"}, 0,
			[]string{"2026-12-01 12:00:00       sub-2", "2026-12-01 11:00:00       sub-1", "2 submissions"}, []string{"sub-0", "sub-3"}},
		{"first page", []string{"list", "--limit", "3", "--portal", "demo-portal"}, 0,
			[]string{"sub-6", "sub-4", "3 submissions (more follow)", "next page: amtsbote submissions list --config " + cfgFile + " --limit 3 --portal demo-portal --after "},
			[]string{"sub-3"}},
		{"unknown status", []string{"list", "--status", "unterwegs"}, 2, []string{`--status: "unterwegs" is not a status`}, nil},
		{"bad time", []string{"list", "--from", "gestern"}, 2, []string{`--from: "gestern"`}, nil},
		{"bad cursor", []string{"list", "--after", "xyz"}, 2, []string{"--after: not a cursor"}, nil},
		{"bad limit", []string{"list", "--limit", "0"}, 2, []string{"--limit"}, nil},
		{"show", []string{"show", "sub-4"}, 0, []string{"Submission  sub-4", "Status      failed", "eakte: pending, 0 attempts",
			"validation_failed  eakte", "    2 problems:\n    line 3: betrieb missing\n    line 9: bad date", "Events (2)"}, []string{"Erika"}},
		{"show purged", []string{"show", "sub-0"}, 0, []string{"Purged", "retention deleted the personal data"}, nil},
		{"show unknown", []string{"show", "nope"}, 2, []string{"no submission nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"submissions", "--config", cfgFile}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out+errOut, n) {
					t.Errorf("output has %q:\n%s%s", n, out, errOut)
				}
			}
		})
	}

	// The next page's command continues where the first ended; --json answers as the API.
	var ids []string
	args := []string{"submissions", "list", "--config", cfgFile, "--limit", "3", "--json"}
	for {
		code, out, errOut := runCLI(args...)
		var page admin.SearchPage
		if code != 0 || json.Unmarshal([]byte(out), &page) != nil {
			t.Fatalf("exit %d: %s%s", code, out, errOut)
		}
		for _, s := range page.Submissions {
			ids = append(ids, s.ID)
		}
		if page.Next == "" {
			break
		}
		args = []string{"submissions", "list", "--config", cfgFile, "--limit", "3", "--json", "--after", page.Next}
	}
	if got := strings.Join(ids, " "); got != "sub-6 sub-5 sub-4 sub-3 sub-2 sub-1 sub-0" {
		t.Fatalf("pages: %s", got)
	}
	code, out, _ := runCLI("submissions", "show", "sub-4", "--config", cfgFile, "--json")
	var v admin.SubmissionView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.ID != "sub-4" || len(v.Deliveries) != 1 || len(v.Events) != 2 {
		t.Fatalf("show --json: exit %d %s", code, out)
	}
}
