package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amtsbote/amtsbote/schedule"
	"github.com/amtsbote/amtsbote/store"
)

// Search pages: DefaultSearchLimit submissions unless the query asks for up to MaxSearchLimit.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 500
)

// maxParam bounds a text parameter: ids, references and names are far shorter.
const maxParam = 200

// ParamError is a query parameter the API cannot take: a 400 naming the parameter.
type ParamError struct {
	Param   string
	Problem string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Problem }

func badParam(param, format string, args ...any) error {
	return &ParamError{Param: param, Problem: fmt.Sprintf(format, args...)}
}

// SearchQuery is a search of submissions as the API, the console and the CLI take it.
type SearchQuery struct {
	Filter store.SubmissionFilter
	// After continues a search after the last submission of the previous page (nil: the
	// newest first).
	After *store.SubmissionCursor
	Limit int
}

// searchParams are the parameters ParseSearchQuery reads.
var searchParams = []string{"id", "reference", "portal", "route", "status", "leistung", "ags", "from", "to", "after", "limit"}

// ParseSearchQuery reads a search from query parameters: id, reference, portal, route, status,
// leistung, ags (exact matches; empty: any), from and to (received at or after from and before
// to; RFC 3339, or a date or date and time in loc as HTML date and datetime-local inputs send
// them — to as a date means the end of that day), after (a page's next cursor) and limit
// (1–500, default 50). An error is a *ParamError naming the parameter.
func ParseSearchQuery(q url.Values, loc *time.Location) (SearchQuery, error) {
	sq := SearchQuery{Limit: DefaultSearchLimit}
	for _, p := range searchParams {
		if len(q[p]) > 1 {
			return sq, badParam(p, "given %d times; give it once", len(q[p]))
		}
	}
	text := func(p string) (string, error) {
		v := strings.TrimSpace(q.Get(p))
		if len(v) > maxParam {
			return "", badParam(p, "longer than %d characters", maxParam)
		}
		if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", badParam(p, "contains control characters or is not UTF-8")
		}
		return v, nil
	}
	f := &sq.Filter
	for _, field := range []struct {
		param string
		dst   *string
	}{{"id", &f.ID}, {"reference", &f.Reference}, {"portal", &f.Portal}, {"route", &f.Route},
		{"status", &f.Status}, {"leistung", &f.Leistung}, {"ags", &f.AGS}} {
		v, err := text(field.param)
		if err != nil {
			return sq, err
		}
		*field.dst = v
	}
	if f.Status != "" && !slices.Contains(store.SubmissionStatuses, f.Status) {
		return sq, badParam("status", "%q is not a status; want one of %s", f.Status, strings.Join(store.SubmissionStatuses, ", "))
	}
	var err error
	if f.From, err = parseTime("from", q.Get("from"), loc, false); err != nil {
		return sq, err
	}
	if f.To, err = parseTime("to", q.Get("to"), loc, true); err != nil {
		return sq, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return sq, badParam("to", "%s is not after from (%s)", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339))
	}
	if v := q.Get("after"); v != "" {
		if sq.After, err = DecodeCursor(v); err != nil {
			return sq, err
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxSearchLimit {
			return sq, badParam("limit", "%q: want a number from 1 to %d", v, MaxSearchLimit)
		}
		sq.Limit = n
	}
	return sq, nil
}

// Values is the query as parameters, for ParseSearchQuery to read back (times in RFC 3339).
func (sq SearchQuery) Values() url.Values {
	v := url.Values{}
	f := sq.Filter
	for _, p := range []struct{ name, value string }{{"id", f.ID}, {"reference", f.Reference}, {"portal", f.Portal},
		{"route", f.Route}, {"status", f.Status}, {"leistung", f.Leistung}, {"ags", f.AGS}} {
		if p.value != "" {
			v.Set(p.name, p.value)
		}
	}
	if !f.From.IsZero() {
		v.Set("from", f.From.Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.Format(time.RFC3339Nano))
	}
	if sq.After != nil {
		v.Set("after", EncodeCursor(*sq.After))
	}
	if sq.Limit != 0 && sq.Limit != DefaultSearchLimit {
		v.Set("limit", strconv.Itoa(sq.Limit))
	}
	return v
}

// parseTime reads a time parameter: RFC 3339, or YYYY-MM-DD, YYYY-MM-DDTHH:MM or
// YYYY-MM-DDTHH:MM:SS in loc. A date alone is its start, or with endOfDay the start of the
// next day (an exclusive end that takes in the whole day). "" is the zero time.
func parseTime(param, v string, loc *time.Location, endOfDay bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	var t time.Time
	var err error
	if len(v) == len("2006-01-02") {
		if t, err = time.ParseInLocation("2006-01-02", v, loc); err == nil && endOfDay {
			t = t.AddDate(0, 0, 1)
		}
	} else if t, err = time.Parse(time.RFC3339, v); err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04", v, loc)
		if err != nil {
			t, err = time.ParseInLocation("2006-01-02T15:04:05", v, loc)
		}
	}
	if err != nil {
		return time.Time{}, badParam(param, "%q: want an RFC 3339 time (2026-12-01T18:00:00+01:00), a date (2026-12-01) or a date and time (2026-12-01T18:00)", clip(v))
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, badParam(param, "%q: the year must be 2000 to 9999", clip(v))
	}
	return t, nil
}

// clip shortens a value quoted back in an error.
func clip(v string) string {
	if len(v) > 40 {
		return v[:40] + "…"
	}
	return v
}

// cursorJSON is a cursor inside its opaque form: the last submission's received_at in
// milliseconds and its id.
type cursorJSON struct {
	ReceivedAt int64  `json:"t"`
	ID         string `json:"id"`
}

// EncodeCursor makes a cursor an opaque parameter value: base64url of a small JSON object.
func EncodeCursor(c store.SubmissionCursor) string {
	b, _ := json.Marshal(cursorJSON{ReceivedAt: c.ReceivedAt.UnixMilli(), ID: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor EncodeCursor made; anything else is a *ParamError for after.
func DecodeCursor(v string) (*store.SubmissionCursor, error) {
	bad := badParam("after", "not a cursor of this API: take the next value of the previous page as it is")
	if len(v) > 400 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, bad
	}
	var c cursorJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, bad
	}
	if c.ReceivedAt <= 0 || c.ID == "" || len(c.ID) > maxParam || !utf8.ValidString(c.ID) {
		return nil, bad
	}
	return &store.SubmissionCursor{ReceivedAt: time.UnixMilli(c.ReceivedAt).UTC(), ID: c.ID}, nil
}

// SubmissionSummaryView is a submission in a list: what identifies and locates it, never its
// data.
type SubmissionSummaryView struct {
	ID         string    `json:"id"`
	Portal     string    `json:"portal"`
	Reference  string    `json:"reference"`
	Leistung   string    `json:"leistung"`
	AGS        string    `json:"ags"`
	Route      string    `json:"route"`
	Status     string    `json:"status"`
	Channel    string    `json:"channel"`
	ReceivedAt time.Time `json:"received_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Purged tells that retention deleted the submission's personal data.
	Purged bool `json:"purged"`
}

// SearchPage is one page of a search, newest first; Next continues it (as the after
// parameter), "" on the last page.
type SearchPage struct {
	Submissions []SubmissionSummaryView `json:"submissions"`
	Next        string                  `json:"next,omitempty"`
}

// Search runs a search of submissions.
func (s *Server) Search(ctx context.Context, q SearchQuery) (SearchPage, error) {
	return Search(ctx, s.Store, q)
}

// Search runs a search of submissions on a store (the CLI has no server).
func Search(ctx context.Context, st *store.Store, q SearchQuery) (SearchPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	rows, next, err := st.SearchSubmissions(ctx, q.Filter, q.After, limit)
	if err != nil {
		return SearchPage{}, err
	}
	page := SearchPage{Submissions: make([]SubmissionSummaryView, 0, len(rows))}
	for _, r := range rows {
		page.Submissions = append(page.Submissions, SubmissionSummaryView{ID: r.ID, Portal: r.Portal, Reference: r.Reference,
			Leistung: r.Leistung, AGS: r.AGS, Route: r.Route, Status: r.Status, Channel: r.Channel,
			ReceivedAt: r.ReceivedAt, UpdatedAt: r.UpdatedAt, Purged: r.Purged})
	}
	if next != nil {
		page.Next = EncodeCursor(*next)
	}
	return page, nil
}

// location is the zone dates and times without an offset are read in: the configuration's
// time_zone, or its default when no daemon runs.
func (s *Server) location() *time.Location {
	if s.Runtime != nil {
		snap, release := s.Runtime.Snapshot()
		defer release()
		if snap != nil && snap.Config != nil {
			return snap.Config.Location()
		}
	}
	if loc, err := time.LoadLocation(schedule.DefaultZone); err == nil {
		return loc
	}
	return time.UTC
}

// search answers GET /v1/submissions.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q, err := ParseSearchQuery(r.URL.Query(), s.location())
	if err != nil {
		s.badRequest(w, err)
		return
	}
	page, err := s.Search(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// badRequest answers 400 for a *ParamError, 500 for anything else.
func (s *Server) badRequest(w http.ResponseWriter, err error) {
	var pe *ParamError
	if errors.As(err, &pe) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": pe.Error()})
		return
	}
	s.fail(w, err)
}
