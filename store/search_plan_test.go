package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Every search reads through an index, and every filter but the reference and the id (which
// select a handful of rows) reads in the order of the page, so that a page costs about limit
// rows, not the table: checked in the query plans of both stores.
func TestSearchUsesIndexes(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cursor := &SubmissionCursor{ReceivedAt: at, ID: "x"}
	cases := []struct {
		name    string
		f       SubmissionFilter
		after   *SubmissionCursor
		ordered bool // the index yields the page's order: no sort
	}{
		{"none", SubmissionFilter{}, nil, true},
		{"none, next page", SubmissionFilter{}, cursor, true},
		{"status", SubmissionFilter{Status: StatusFailed}, cursor, true},
		{"route", SubmissionFilter{Route: "r"}, cursor, true},
		{"portal", SubmissionFilter{Portal: "p"}, cursor, true},
		{"leistung", SubmissionFilter{Leistung: "l"}, cursor, true},
		{"ags", SubmissionFilter{AGS: "a"}, cursor, true},
		{"leistung and ags", SubmissionFilter{Leistung: "l", AGS: "a"}, cursor, true},
		{"time range", SubmissionFilter{From: at.Add(-time.Hour), To: at}, cursor, true},
		{"status and time range", SubmissionFilter{Status: StatusFailed, From: at.Add(-time.Hour), To: at}, nil, true},
		{"reference", SubmissionFilter{Reference: "ref"}, cursor, false},
		{"id", SubmissionFilter{ID: "x"}, nil, false},
	}
	eachStore(t, func(t *testing.T, st *Store) {
		for _, c := range cases {
			q, args := searchQuery(c.f, c.after, 50, "")
			p := queryPlan(t, st, q, args...)
			var scans, sorts bool
			if st.Driver == Postgres {
				scans = strings.Contains(p, "Seq Scan")
				sorts = strings.Contains(p, "Sort")
			} else {
				scans = strings.Contains(p, "SCAN submissions") && !strings.Contains(p, "USING")
				sorts = strings.Contains(p, "TEMP B-TREE")
			}
			t.Logf("%s:\n%s", c.name, p)
			if scans || c.ordered && sorts {
				t.Errorf("%s: plan without the index (scans %v, sorts %v):\n%s", c.name, scans, sorts, p)
			}
		}
	})
}

// On SQLite a search by several fields reads the index of the field with the fewest rows: a
// rare status, not the portal that most submissions share.
func TestNarrowestIndex(t *testing.T) {
	st, err := OpenWith(context.Background(), Options{Driver: SQLite, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		status := StatusDelivered
		if i%50 == 0 {
			status = StatusDead
		}
		_, err := st.DB.Exec(`INSERT INTO submissions (id, portal, reference, leistung, ags, route, status, data, request_hash,
			received_at, updated_at) VALUES ($1, 'p', $2, 'l', $3, 'r', $4, x'', 'h', $5, $5)`,
			fmt.Sprintf("s%03d", i), fmt.Sprintf("ref-%d", i%100), fmt.Sprintf("a%d", i%4), status, at.Add(time.Duration(i)*time.Minute).UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		f    SubmissionFilter
		want string
	}{
		{SubmissionFilter{Status: StatusDead, Portal: "p"}, "submissions_status_received"},
		{SubmissionFilter{Status: StatusDelivered, AGS: "a1", Portal: "p"}, "submissions_ags_received"},
		{SubmissionFilter{Status: StatusDelivered, Reference: "ref-7"}, "submissions_reference"},
		// In a short time range both count the same few rows: the field tried first wins.
		{SubmissionFilter{Status: StatusDelivered, Portal: "p", From: at.Add(199 * time.Minute)}, "submissions_status_received"},
		{SubmissionFilter{Portal: "p"}, ""},
		{SubmissionFilter{ID: "s001", Portal: "p", Status: StatusDead}, ""},
	}
	for _, c := range cases {
		got, err := st.narrowestIndex(ctx, c.f)
		if err != nil || got != c.want {
			t.Errorf("%+v: %q (%v), want %q", c.f, got, err, c.want)
		}
	}
}
