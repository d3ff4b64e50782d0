package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/store"
)

func TestParseAuditQuery(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		query string
		want  store.AuditFilter
		param string
	}{
		{"", store.AuditFilter{Since: now.Add(-24 * time.Hour), Limit: 1000}, ""},
		{"since=2026-01-01T00:00:00Z&limit=10000", store.AuditFilter{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 10000}, ""},
		{"since=2026-11-30&until=2026-11-30&actor=console:&action=replay&subject=s1/eakte&before=42",
			store.AuditFilter{Since: time.Date(2026, 11, 30, 0, 0, 0, 0, berlin), Until: time.Date(2026, 12, 1, 0, 0, 0, 0, berlin),
				Actor: "console:", Action: "replay", Subject: "s1/eakte", BeforeID: 42, Limit: 1000}, ""},
		{"since=gestern", store.AuditFilter{}, "since"},
		{"until=2026-11-01", store.AuditFilter{}, "until"}, // before the default since
		{"before=0", store.AuditFilter{}, "before"},
		{"before=x", store.AuditFilter{}, "before"},
		{"limit=10001", store.AuditFilter{}, "limit"},
		{"actor=a&actor=b", store.AuditFilter{}, "actor"},
		{"subject=" + strings.Repeat("s", 201), store.AuditFilter{}, "subject"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, _ := url.ParseQuery(c.query)
			got, err := admin.ParseAuditQuery(q, berlin, now)
			if c.param != "" {
				var pe *admin.ParamError
				if !errors.As(err, &pe) || pe.Param != c.param {
					t.Fatalf("error %v, want one naming %s", err, c.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, w := got.Filter, c.want
			if !g.Since.Equal(w.Since) || !g.Until.Equal(w.Until) {
				t.Fatalf("got %+v, want %+v", g, w)
			}
			g.Since, g.Until, w.Since, w.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if g != w {
				t.Fatalf("got %+v, want %+v", g, w)
			}
		})
	}
}

// No query makes the audit parser panic, and every error names a parameter.
func FuzzParseAuditQuery(f *testing.F) {
	for _, seed := range []string{"", "since=2026-01-01T00:00:00Z&limit=5", "actor=console:&before=9", "until=2026-12-01T10:00", "before=-1"} {
		f.Add(seed)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if _, err := admin.ParseAuditQuery(q, berlin, now); err != nil {
			var pe *admin.ParamError
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("%q: error %v names no parameter", raw, err)
			}
		}
	})
}

// GET /v1/audit: newest first, filtered, paged by next_before; since and limit as before.
func TestAuditHandler(t *testing.T) {
	c := newConsoleServer(t, t.TempDir())
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	actors := []string{"portal:demo", "console:anna", "admin-api", "console:bernd", "system:retention"}
	err := c.st.InTx(ctx, func(tx wmsql.Tx) error {
		for i := 0; i < 10; i++ {
			// Entry 0 is two days old: outside the default 24 hours.
			at := now.Add(-time.Duration(10-i) * time.Minute)
			if i == 0 {
				at = now.Add(-48 * time.Hour)
			}
			if err := store.Audit(ctx, tx, store.AuditEntry{At: at, Actor: actors[i%len(actors)], Action: "replay",
				Subject: fmt.Sprintf("s%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	subjects := func(p admin.AuditPage) string {
		var s []string
		for _, e := range p.Audit {
			s = append(s, e.Subject)
		}
		return strings.Join(s, " ")
	}
	var page admin.AuditPage
	if code, raw := c.get(t, "/v1/audit", consoleToken, &page); code != http.StatusOK || subjects(page) != "s9 s8 s7 s6 s5 s4 s3 s2 s1" || page.NextBefore != 0 {
		t.Fatalf("default: %d %s", code, raw)
	}
	since := url.QueryEscape(now.Add(-72 * time.Hour).Format(time.RFC3339))
	if code, raw := c.get(t, "/v1/audit?since="+since, consoleToken, &page); code != http.StatusOK || len(page.Audit) != 10 {
		t.Fatalf("since: %d %s", code, raw)
	}
	if code, raw := c.get(t, "/v1/audit?actor=console", consoleToken, &page); code != http.StatusOK || subjects(page) != "s8 s6 s3 s1" {
		t.Fatalf("actor: %d %s", code, raw)
	}
	// Pages of 4 by next_before.
	var all []string
	path := "/v1/audit?limit=4"
	for {
		page = admin.AuditPage{}
		if code, raw := c.get(t, path, consoleToken, &page); code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, raw)
		}
		all = append(all, subjects(page))
		if page.NextBefore == 0 {
			break
		}
		path = fmt.Sprintf("/v1/audit?limit=4&before=%d", page.NextBefore)
	}
	if got := strings.Join(all, " | "); got != "s9 s8 s7 s6 | s5 s4 s3 s2 | s1" {
		t.Fatalf("pages: %s", got)
	}
	code, raw := c.get(t, "/v1/audit?limit=0", consoleToken, nil)
	var e struct{ Error string }
	json.Unmarshal([]byte(raw), &e)
	if code != http.StatusBadRequest || !strings.HasPrefix(e.Error, "limit: ") {
		t.Fatalf("limit=0: %d %s", code, raw)
	}
}
