package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amtsbote/amtsbote/store"
)

// Audit pages: DefaultAuditLimit entries unless the query asks for up to MaxAuditLimit.
const (
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 10000
)

// AuditQuery is a search of the audit trail. Filter.Limit is the page size.
type AuditQuery struct {
	Filter store.AuditFilter
}

// AuditPage is a page of the audit trail, newest first; NextBefore continues it (as the before
// parameter), 0 on the last page.
type AuditPage struct {
	Audit      []store.AuditEntry `json:"audit"`
	NextBefore int64              `json:"next_before,omitempty"`
}

var auditParams = []string{"since", "until", "actor", "action", "subject", "before", "limit"}

// ParseAuditQuery reads a search of the audit trail from query parameters: since (default: 24
// hours before now) and until (RFC 3339, or a date or date and time in loc; until as a date
// means the end of that day), actor (the actor and every actor below it: "admin-api" takes in
// admin-api:anna; a value ending in ":" is a prefix), action and subject (exact), before (the
// next_before of the previous page) and limit (1–10000, default 1000). An error is a
// *ParamError naming the parameter.
func ParseAuditQuery(q url.Values, loc *time.Location, now time.Time) (AuditQuery, error) {
	aq := AuditQuery{Filter: store.AuditFilter{Since: now.Add(-24 * time.Hour), Limit: DefaultAuditLimit}}
	f := &aq.Filter
	for _, p := range auditParams {
		if len(q[p]) > 1 {
			return aq, badParam(p, "given %d times; give it once", len(q[p]))
		}
	}
	var err error
	if v := q.Get("since"); v != "" {
		if f.Since, err = parseTime("since", v, loc, false); err != nil {
			return aq, err
		}
	}
	if f.Until, err = parseTime("until", q.Get("until"), loc, true); err != nil {
		return aq, err
	}
	if !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return aq, badParam("until", "%s is not after since (%s)", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	for _, field := range []struct {
		param string
		dst   *string
	}{{"actor", &f.Actor}, {"action", &f.Action}, {"subject", &f.Subject}} {
		v := strings.TrimSpace(q.Get(field.param))
		if len(v) > maxParam || !utf8.ValidString(v) {
			return aq, badParam(field.param, "longer than %d characters or not UTF-8", maxParam)
		}
		*field.dst = v
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return aq, badParam("before", "%q: want the next_before of the previous page (a positive number)", clip(v))
		}
		f.BeforeID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxAuditLimit {
			return aq, badParam("limit", "%q: want a number from 1 to %d", clip(v), MaxAuditLimit)
		}
		f.Limit = n
	}
	return aq, nil
}

// Audit reads a page of the audit trail.
func (s *Server) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	f := q.Filter
	if f.Limit <= 0 {
		f.Limit = DefaultAuditLimit
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	entries, err := s.Store.SearchAudit(ctx, f)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Audit: entries}
	if len(entries) > limit {
		page.Audit = entries[:limit]
		page.NextBefore = entries[limit-1].ID
	}
	if page.Audit == nil {
		page.Audit = []store.AuditEntry{}
	}
	return page, nil
}

// audit answers GET /v1/audit.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	q, err := ParseAuditQuery(r.URL.Query(), s.location(), s.Now())
	if err != nil {
		s.badRequest(w, err)
		return
	}
	page, err := s.Audit(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
