package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// SubmissionStatuses lists every status a submission can have, in the order of its life.
var SubmissionStatuses = []string{
	StatusReceived, StatusAwaitingPayment, StatusProcessing, StatusDelivered, StatusAcknowledged, StatusRejected,
	StatusInProgress, StatusDecided, StatusClosed, StatusFailed, StatusDead, StatusPaymentFailed, StatusPaymentCanceled,
}

// SubmissionFilter selects submissions: each field that is set must match exactly; received_at
// lies in [From, To) where a zero bound is open.
type SubmissionFilter struct {
	ID, Reference, Portal, Route, Status, Leistung, AGS string
	From, To                                            time.Time
}

// SubmissionCursor is the position after the last submission of a page: the next page starts
// with the submission received before it (ties broken by id, descending).
type SubmissionCursor struct {
	ReceivedAt time.Time
	ID         string
}

// SubmissionSummary is a submission as a list shows it: no form data and no channel metadata,
// so a list never loads personal data.
type SubmissionSummary struct {
	ID, Portal, Reference, Leistung, AGS, Route, Status, Channel string
	ReceivedAt, UpdatedAt                                        time.Time
	// Purged tells that retention deleted the personal data.
	Purged bool
}

// SearchSubmissions lists the submissions the filter selects, newest first (received_at, then
// id, descending), at most limit of them, starting after the cursor (nil: from the newest).
// next is the cursor of the following page, nil when there is none.
//
// Every filter field has an index that also serves the order (migrateSearch), so a page reads
// about limit rows whatever the table's size; several fields use one of them and check the
// others on the rows it yields.
func (s *Store) SearchSubmissions(ctx context.Context, f SubmissionFilter, after *SubmissionCursor, limit int) ([]SubmissionSummary, *SubmissionCursor, error) {
	if limit <= 0 {
		return nil, nil, fmt.Errorf("search submissions: limit %d, want at least 1", limit)
	}
	index := ""
	if s.Driver == SQLite {
		var err error
		if index, err = s.narrowestIndex(ctx, f); err != nil {
			return nil, nil, err
		}
	}
	q, args := searchQuery(f, after, limit, index)
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("search submissions: %w", err)
	}
	defer rows.Close()
	out := make([]SubmissionSummary, 0, min(limit+1, 64))
	for rows.Next() {
		var r SubmissionSummary
		var received, updated, purged int64
		if err := rows.Scan(&r.ID, &r.Portal, &r.Reference, &r.Leistung, &r.AGS, &r.Route, &r.Status, &r.Channel,
			&received, &updated, &purged); err != nil {
			return nil, nil, fmt.Errorf("search submissions: %w", err)
		}
		if r.Channel == "" {
			r.Channel = ChannelPortal // stored before channels were recorded
		}
		r.ReceivedAt, r.UpdatedAt, r.Purged = fromMS(received), fromMS(updated), purged != 0
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("search submissions: %w", err)
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, &SubmissionCursor{ReceivedAt: last.ReceivedAt, ID: last.ID}, nil
}

// searchIndexes are the indexes of the filter fields, in the order narrowestIndex tries them.
var searchIndexes = []struct{ column, index string }{
	{"reference", "submissions_reference"}, {"ags", "submissions_ags_received"},
	{"leistung", "submissions_leistung_received"}, {"status", "submissions_status_received"},
	{"route", "submissions_route_received"}, {"portal", "submissions_portal_received"},
}

// narrowCap bounds the rows narrowestIndex counts per field.
const narrowCap = 5000

// narrowestIndex chooses, for a search by several fields on SQLite, the index of the field
// with the fewest rows in the time range, counted in the index alone and at most narrowCap.
// SQLite's planner has no statistics of the values (the store runs no ANALYZE) and would take
// any of them: a rare status with a frequent portal read every row of the portal. ""
// leaves the choice to the planner (one field or none; the id). PostgreSQL's planner knows the
// values' frequencies.
func (s *Store) narrowestIndex(ctx context.Context, f SubmissionFilter) (string, error) {
	values := map[string]string{"reference": f.Reference, "ags": f.AGS, "leistung": f.Leistung, "status": f.Status,
		"route": f.Route, "portal": f.Portal}
	given := 0
	for _, v := range values {
		if v != "" {
			given++
		}
	}
	if given < 2 || f.ID != "" {
		return "", nil
	}
	best, fewest := "", int64(narrowCap+1)
	for _, c := range searchIndexes {
		v := values[c.column]
		if v == "" {
			continue
		}
		q := `SELECT count(*) FROM (SELECT 1 FROM submissions INDEXED BY ` + c.index + ` WHERE ` + c.column + ` = $1`
		args := []any{v}
		if !f.From.IsZero() {
			args = append(args, ms(f.From))
			q += fmt.Sprintf(" AND received_at >= $%d", len(args))
		}
		if !f.To.IsZero() {
			args = append(args, ms(f.To))
			q += fmt.Sprintf(" AND received_at < $%d", len(args))
		}
		q += fmt.Sprintf(" LIMIT %d)", narrowCap)
		var n int64
		if err := s.DB.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return "", fmt.Errorf("search submissions: %w", err)
		}
		if n < fewest {
			best, fewest = c.index, n
		}
	}
	return best, nil
}

// searchQuery is the statement of SearchSubmissions; it fetches limit+1 rows to tell whether
// there is a next page. index names the index SQLite is to read ("": the planner's choice).
func searchQuery(f SubmissionFilter, after *SubmissionCursor, limit int, index string) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range []struct{ column, value string }{
		{"id", f.ID}, {"reference", f.Reference}, {"portal", f.Portal}, {"route", f.Route},
		{"status", f.Status}, {"leistung", f.Leistung}, {"ags", f.AGS},
	} {
		if c.value != "" {
			where = append(where, c.column+" = "+arg(c.value))
		}
	}
	if !f.From.IsZero() {
		where = append(where, "received_at >= "+arg(ms(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "received_at < "+arg(ms(f.To)))
	}
	if after != nil {
		// A row-value comparison: both SQLite (3.15 on) and PostgreSQL take it as a range on
		// the (…, received_at, id) indexes.
		at := arg(ms(after.ReceivedAt))
		where = append(where, "(received_at, id) < ("+at+", "+arg(after.ID)+")")
	}
	q := `SELECT id, portal, reference, leistung, ags, route, status, channel, received_at, updated_at, purged_at
		FROM submissions`
	if index != "" {
		q += " INDEXED BY " + index
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at DESC, id DESC LIMIT " + arg(limit+1)
	return q, args
}

// Overview is the state of the whole store at a glance, for the operator console's first page.
type Overview struct {
	At time.Time
	// Received counts submissions received in the last 5 minutes and the last hour.
	Received5m, Received1h int64
	// Delivered counts deliveries that reached their destination (delivered, and since
	// acknowledged or rejected by a receipt) whose state last changed in the last 5 minutes
	// and the last hour.
	Delivered5m, Delivered1h int64
	// Failed and AwaitingPayment count submissions in that status now.
	Failed, AwaitingPayment int64
	// Dead counts dead deliveries per destination (destinations without any are absent).
	Dead map[string]int64
	// DeadReplies counts dead reply deliveries, over all channels.
	DeadReplies int64
	// FITConnectOpen counts FIT-Connect submissions whose decision the delivery service does
	// not have yet; FITConnectOldest is when the oldest of them was submitted (or else first
	// seen), zero if there is none.
	FITConnectOpen   int64
	FITConnectOldest time.Time
	// Queues are the asked-for queues that exist, in the order asked.
	Queues []QueueFigures
}

// QueueFigures are a queue's waiting messages (due or scheduled) and when the oldest of them
// was queued (zero if none waits).
type QueueFigures struct {
	Name   string
	Depth  int64
	Oldest time.Time
}

// Overview reads the figures of the overview at now. queues names the queues to report (topics,
// as pipeline.Topics lists them); one that does not exist (yet) is left out; nil reports every
// queue the store has, by name. Every figure is
// read through an index: a range of received_at, of a status, or a queue's small table.
func (s *Store) Overview(ctx context.Context, queues []string, now time.Time) (Overview, error) {
	o := Overview{At: now, Dead: map[string]int64{}}
	five, hour := ms(now.Add(-5*time.Minute)), ms(now.Add(-time.Hour))
	one := func(dst *int64, what, q string, args ...any) error {
		if err := s.DB.QueryRowContext(ctx, q, args...).Scan(dst); err != nil {
			return fmt.Errorf("overview: %s: %w", what, err)
		}
		return nil
	}
	// Counting the last hour's rows is a range of the index; the last 5 minutes' are a part
	// of it, counted in the same pass.
	err := s.DB.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(CASE WHEN received_at >= $1 THEN 1 ELSE 0 END), 0)
		FROM submissions WHERE received_at >= $2`, five, hour).Scan(&o.Received1h, &o.Received5m)
	if err != nil {
		return o, fmt.Errorf("overview: received: %w", err)
	}
	for _, status := range []string{DeliveryDelivered, DeliveryAcknowledged, DeliveryRejected} {
		var n1h, n5m int64
		err := s.DB.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(CASE WHEN updated_at >= $1 THEN 1 ELSE 0 END), 0)
			FROM deliveries WHERE status = $2 AND updated_at >= $3`, five, status, hour).Scan(&n1h, &n5m)
		if err != nil {
			return o, fmt.Errorf("overview: delivered: %w", err)
		}
		o.Delivered1h += n1h
		o.Delivered5m += n5m
	}
	if err := one(&o.Failed, "failed", `SELECT count(*) FROM submissions WHERE status = $1`, StatusFailed); err != nil {
		return o, err
	}
	if err := one(&o.AwaitingPayment, "awaiting payment", `SELECT count(*) FROM submissions WHERE status = $1`, StatusAwaitingPayment); err != nil {
		return o, err
	}
	if err := one(&o.DeadReplies, "dead replies", `SELECT count(*) FROM reply_deliveries WHERE status = $1`, ReplyDead); err != nil {
		return o, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT destination, count(*) FROM deliveries WHERE status = $1 GROUP BY destination`, DeliveryDead)
	if err != nil {
		return o, fmt.Errorf("overview: dead letters: %w", err)
	}
	for rows.Next() {
		var dest string
		var n int64
		if err := rows.Scan(&dest, &n); err != nil {
			rows.Close()
			return o, fmt.Errorf("overview: dead letters: %w", err)
		}
		o.Dead[dest] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return o, fmt.Errorf("overview: dead letters: %w", err)
	}
	var oldest sql.NullInt64
	err = s.DB.QueryRowContext(ctx, `SELECT count(*), min(CASE WHEN submitted_at > 0 THEN submitted_at ELSE seen_at END)
		FROM fitconnect_inbox WHERE state IN ($1, $2)`, InboxNew, InboxDeciding).Scan(&o.FITConnectOpen, &oldest)
	if err != nil {
		return o, fmt.Errorf("overview: FIT-Connect inbox: %w", err)
	}
	if oldest.Valid {
		o.FITConnectOldest = fromMS(oldest.Int64)
	}
	existing, err := s.queueTables(ctx)
	if err != nil {
		return o, err
	}
	if queues == nil {
		for name := range existing {
			if q := strings.TrimPrefix(name, "watermill_"); !strings.HasPrefix(q, "offsets_") {
				queues = append(queues, q)
			}
		}
		slices.Sort(queues)
	}
	for _, q := range queues {
		if !existing["watermill_"+q] {
			continue
		}
		f := QueueFigures{Name: q}
		var oldest sql.NullInt64
		if err := s.DB.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM "watermill_`+q+`"`).Scan(&f.Depth, &oldest); err != nil {
			return o, fmt.Errorf("overview: queue %s: %w", q, err)
		}
		if oldest.Valid {
			f.Oldest = fromMS(oldest.Int64)
		}
		o.Queues = append(o.Queues, f)
	}
	return o, nil
}

// queueTables names the store's queue tables.
func (s *Store) queueTables(ctx context.Context) (map[string]bool, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'watermill\_%' ESCAPE '\'`
	if s.Driver == Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'watermill\_%' ESCAPE '\'`
	}
	rows, err := s.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("overview: list queues: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("overview: list queues: %w", err)
		}
		out[name] = true
	}
	return out, rows.Err()
}

// AuditFilter selects audit entries; zero fields select all.
type AuditFilter struct {
	// Since and Until bound the entries' time: at in [Since, Until).
	Since, Until time.Time
	// Actor matches the actor itself and every actor below it: "admin-api" matches admin-api
	// and admin-api:anna, "portal" every portal; a value ending in ":" ("console:") is a prefix
	// only. "portal:demo" does not match portal:demo-2.
	Actor string
	// Action and Subject match exactly.
	Action, Subject string
	// BeforeID starts after this entry (keyset paging: the last ID of the previous page).
	BeforeID int64
	// Limit is the most entries returned (0: 1000).
	Limit int
}

// SearchAudit lists the audit entries the filter selects, newest first.
func (s *Store) SearchAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(ms(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < "+arg(ms(f.Until)))
	}
	if a := f.Actor; a != "" {
		prefix := a
		if !strings.HasSuffix(a, ":") {
			prefix += ":"
		}
		// substr counts characters on both stores; a prefix needs no escaping, unlike LIKE.
		// (Parameters are numbered in the order they appear: SQLite numbers them so.)
		match := ""
		if prefix != a {
			match = "actor = " + arg(a) + " OR "
		}
		match += "substr(actor, 1, " + arg(utf8.RuneCountInString(prefix)) + ") = " + arg(prefix)
		where = append(where, "("+match+")")
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	if f.Subject != "" {
		where = append(where, "subject = "+arg(f.Subject))
	}
	if f.BeforeID > 0 {
		where = append(where, "id < "+arg(f.BeforeID))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT id, at, actor, action, subject, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + arg(limit)
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search audit trail: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("search audit trail: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
