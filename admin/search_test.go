package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/store"
)

// consoleToken is the legacy admin token (admin.token_sha256) of the handler tests.
const consoleToken = "search-test-token"

// consoleServer is an admin API on a fresh SQLite store in a temporary directory.
type consoleServer struct {
	st  *store.Store
	srv *admin.Server
	h   http.Handler
}

func newConsoleServer(t testing.TB, dir string) *consoleServer {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sum := sha256.Sum256([]byte(consoleToken))
	srv := admin.New(st, config.Admin{TokenSHA256: hex.EncodeToString(sum[:])}.AdminUsers(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	return &consoleServer{st: st, srv: srv, h: srv.Handler()}
}

// get calls the handler with the token (or without, token ""), and decodes a JSON answer into
// out (nil: not decoded). It returns the status and the raw body.
func (c *consoleServer) get(t testing.TB, path, token string, out any) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if out != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
		}
	}
	return rec.Code, rec.Body.String()
}

// insert stores submissions in one transaction.
func (c *consoleServer) insert(t testing.TB, subs ...store.Submission) {
	t.Helper()
	ctx := context.Background()
	err := c.st.InTx(ctx, func(tx wmsql.Tx) error {
		for _, s := range subs {
			if s.Data == nil {
				s.Data = []byte(`{"name": "Erika Mustermann"}`)
			}
			if s.RequestHash == "" {
				s.RequestHash = "h"
			}
			if err := store.InsertSubmission(ctx, tx, s, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var berlin = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return loc
}()

func TestParseSearchQuery(t *testing.T) {
	cursor := admin.EncodeCursor(store.SubmissionCursor{ReceivedAt: time.UnixMilli(1_800_000_000_123).UTC(), ID: "sub-1"})
	cases := []struct {
		query string
		want  admin.SearchQuery
		param string // the parameter an error names; "" for no error
	}{
		{"", admin.SearchQuery{Limit: 50}, ""},
		{"id=+abc+&reference=AZ-1&portal=demo&route=bauantrag&status=failed&leistung=99050012104000&ags=09162000&limit=500",
			admin.SearchQuery{Filter: store.SubmissionFilter{ID: "abc", Reference: "AZ-1", Portal: "demo", Route: "bauantrag",
				Status: "failed", Leistung: "99050012104000", AGS: "09162000"}, Limit: 500}, ""},
		{"status=&portal=", admin.SearchQuery{Limit: 50}, ""}, // an empty form field is any
		// A date is read in the configuration's zone; to as a date takes in the whole day.
		{"from=2026-12-01&to=2026-12-01", admin.SearchQuery{Filter: store.SubmissionFilter{
			From: time.Date(2026, 12, 1, 0, 0, 0, 0, berlin), To: time.Date(2026, 12, 2, 0, 0, 0, 0, berlin)}, Limit: 50}, ""},
		// As datetime-local inputs send it, with and without seconds; RFC 3339 with its offset.
		{"from=2026-07-01T08:30&to=2026-07-01T18:00:30", admin.SearchQuery{Filter: store.SubmissionFilter{
			From: time.Date(2026, 7, 1, 8, 30, 0, 0, berlin), To: time.Date(2026, 7, 1, 18, 0, 30, 0, berlin)}, Limit: 50}, ""},
		{"from=2026-12-01T18:00:00Z&to=2026-12-01T20:00:00.5%2B01:00", admin.SearchQuery{Filter: store.SubmissionFilter{
			From: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 19, 0, 0, 500_000_000, time.UTC)}, Limit: 50}, ""},
		{"after=" + cursor, admin.SearchQuery{After: &store.SubmissionCursor{ReceivedAt: time.UnixMilli(1_800_000_000_123).UTC(), ID: "sub-1"}, Limit: 50}, ""},

		{"status=kaputt", admin.SearchQuery{}, "status"},
		{"status=failed&status=dead", admin.SearchQuery{}, "status"},
		{"from=gestern", admin.SearchQuery{}, "from"},
		{"from=01.12.2026", admin.SearchQuery{}, "from"},
		{"to=2026-13-01", admin.SearchQuery{}, "to"},
		{"from=0001-01-01", admin.SearchQuery{}, "from"},
		{"from=2026-12-02&to=2026-12-01", admin.SearchQuery{}, "to"},
		{"from=2026-12-01T10:00&to=2026-12-01T10:00", admin.SearchQuery{}, "to"},
		{"limit=0", admin.SearchQuery{}, "limit"},
		{"limit=501", admin.SearchQuery{}, "limit"},
		{"limit=zehn", admin.SearchQuery{}, "limit"},
		{"after=" + cursor[:len(cursor)-2], admin.SearchQuery{}, "after"},
		{"after=" + cursor + "x", admin.SearchQuery{}, "after"},
		{"after=" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":1,"id":"a","x":1}`)), admin.SearchQuery{}, "after"},
		{"after=" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":-5,"id":"a"}`)), admin.SearchQuery{}, "after"},
		{"after=" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":5,"id":""}`)), admin.SearchQuery{}, "after"},
		{"after=" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":5,"id":"a"} {}`)), admin.SearchQuery{}, "after"},
		{"reference=" + strings.Repeat("x", 201), admin.SearchQuery{}, "reference"},
		{"portal=a%00b", admin.SearchQuery{}, "portal"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := admin.ParseSearchQuery(q, berlin)
			if c.param != "" {
				var pe *admin.ParamError
				if !errors.As(err, &pe) || pe.Param != c.param || !strings.HasPrefix(err.Error(), c.param+": ") {
					t.Fatalf("error %v, want one naming %s", err, c.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameQuery(got, c.want) {
				t.Fatalf("got %+v (after %+v), want %+v (after %+v)", got, got.After, c.want, c.want.After)
			}
			// The query's own parameters read back the same.
			back, err := admin.ParseSearchQuery(got.Values(), time.UTC)
			if err != nil || !sameQuery(back, got) {
				t.Fatalf("read back from %s: %+v, %v", got.Values().Encode(), back, err)
			}
		})
	}
}

func sameQuery(a, b admin.SearchQuery) bool {
	fa, fb := a.Filter, b.Filter
	if !fa.From.Equal(fb.From) || !fa.To.Equal(fb.To) || a.Limit != b.Limit || (a.After == nil) != (b.After == nil) {
		return false
	}
	if a.After != nil && (!a.After.ReceivedAt.Equal(b.After.ReceivedAt) || a.After.ID != b.After.ID) {
		return false
	}
	fa.From, fa.To, fb.From, fb.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return fa == fb
}

// No query makes the parser panic; what it accepts reads back the same from its Values, and
// every error names a parameter it reads.
func FuzzParseSearchQuery(f *testing.F) {
	for _, seed := range []string{"", "status=failed&limit=10", "from=2026-12-01&to=2026-12-02T10:00",
		"after=eyJ0IjoxLCJpZCI6ImEifQ", "to=2026-12-01T20:00:00%2B01:00&ags=09162000", "limit=-1", "from=2026-02-30",
		"reference=%FF", "after=%%%"} {
		f.Add(seed)
	}
	params := map[string]bool{}
	for _, p := range []string{"id", "reference", "portal", "route", "status", "leistung", "ags", "from", "to", "after", "limit"} {
		params[p] = true
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		sq, err := admin.ParseSearchQuery(q, berlin)
		if err != nil {
			var pe *admin.ParamError
			if !errors.As(err, &pe) || !params[pe.Param] {
				t.Fatalf("%q: error %v names no parameter", raw, err)
			}
			return
		}
		back, err := admin.ParseSearchQuery(sq.Values(), berlin)
		if err != nil || !sameQuery(back, sq) {
			t.Fatalf("%q: read back %+v (%v), want %+v", raw, back, err, sq)
		}
	})
}

// A cursor the decoder accepts encodes to one it decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(admin.EncodeCursor(store.SubmissionCursor{ReceivedAt: time.UnixMilli(1_800_000_000_000), ID: "7e6f28c3-d7da-46f8-b6c5-83dd14310c78"}))
	f.Add("eyJ0IjoxLCJpZCI6ImEifQ")
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := admin.DecodeCursor(v)
		if err != nil {
			var pe *admin.ParamError
			if !errors.As(err, &pe) || pe.Param != "after" {
				t.Fatalf("%q: error %v does not name after", v, err)
			}
			return
		}
		again, err := admin.DecodeCursor(admin.EncodeCursor(*c))
		if err != nil || !again.ReceivedAt.Equal(c.ReceivedAt) || again.ID != c.ID {
			t.Fatalf("%q: %+v encodes to %+v (%v)", v, c, again, err)
		}
	})
}

// GET /v1/submissions pages through a search newest first; the pages add up to the whole
// result; bad parameters are a 400 naming them; no page carries form data.
func TestSearchHandler(t *testing.T) {
	c := newConsoleServer(t, t.TempDir())
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var subs []store.Submission
	for i := 0; i < 23; i++ {
		status := store.StatusDelivered
		if i%3 == 0 {
			status = store.StatusFailed
		}
		subs = append(subs, store.Submission{ID: fmt.Sprintf("sub-%02d", i), Portal: "demo", Reference: fmt.Sprintf("AZ-%d", i),
			Leistung: "99050012104000", AGS: "09162000", Route: "bauantrag", Status: status,
			ReceivedAt: base.Add(time.Duration(i/2) * time.Minute)}) // pairs share a time
	}
	c.insert(t, subs...)

	if code, _ := c.get(t, "/v1/submissions", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", code)
	}
	if code, _ := c.get(t, "/v1/submissions", "wrong", nil); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d", code)
	}
	var ids []string
	path := "/v1/submissions?status=failed&limit=3"
	for pages := 0; ; pages++ {
		var page admin.SearchPage
		code, raw := c.get(t, path, consoleToken, &page)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
		if strings.Contains(raw, "Erika") || strings.Contains(raw, `"data"`) {
			t.Fatalf("a list carries form data: %s", raw)
		}
		for _, s := range page.Submissions {
			if s.Status != store.StatusFailed || s.Portal != "demo" || s.Channel != store.ChannelPortal {
				t.Fatalf("row %+v", s)
			}
			ids = append(ids, s.ID)
		}
		if page.Next == "" {
			if strings.Contains(raw, `"next"`) {
				t.Fatalf("the last page names a next: %s", raw)
			}
			break
		}
		path = "/v1/submissions?status=failed&limit=3&after=" + url.QueryEscape(page.Next)
	}
	if got := strings.Join(ids, " "); got != "sub-21 sub-18 sub-15 sub-12 sub-09 sub-06 sub-03 sub-00" {
		t.Fatalf("failed submissions: %s", got)
	}

	// A time range in the configuration's zone (Europe/Berlin without a daemon): 09:03 to
	// 09:05 Berlin time is 08:03 to 08:05 UTC.
	var page admin.SearchPage
	if code, raw := c.get(t, "/v1/submissions?from=2026-12-01T09:03&to=2026-12-01T09:05", consoleToken, &page); code != http.StatusOK || len(page.Submissions) != 4 {
		t.Fatalf("time range: %d %s", code, raw)
	}
	for _, bad := range []struct{ query, param string }{
		{"status=unterwegs", "status"}, {"from=morgen", "from"}, {"after=AAAA", "after"}, {"limit=1000", "limit"},
	} {
		code, raw := c.get(t, "/v1/submissions?"+bad.query, consoleToken, nil)
		var e struct{ Error string }
		json.Unmarshal([]byte(raw), &e)
		if code != http.StatusBadRequest || !strings.HasPrefix(e.Error, bad.param+": ") {
			t.Fatalf("?%s: %d %s, want 400 naming %s", bad.query, code, raw, bad.param)
		}
	}
	// The detail of one is still where it was.
	if code, raw := c.get(t, "/v1/submissions/sub-03", consoleToken, nil); code != http.StatusOK || !strings.Contains(raw, `"id": "sub-03"`) {
		t.Fatalf("detail: %d %s", code, raw)
	}
}
