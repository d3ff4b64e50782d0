package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one line of the append-only audit trail: who did what to what.
type AuditEntry struct {
	// ID orders the trail; it is set when an entry is read (SearchAudit: keyset paging).
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // portal:<id>, admin-api:<name>, cli:<user>, system:<job>
	Action  string    `json:"action"` // submit, replay, purge, reload
	Subject string    `json:"subject,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Audit appends to the audit trail.
func Audit(ctx context.Context, ex Execer, e AuditEntry) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)`,
		ms(e.At), e.Actor, e.Action, e.Subject, e.Detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditTrail lists audit entries since a time, oldest first, at most limit.
func (s *Store) AuditTrail(ctx context.Context, since time.Time, limit int) ([]AuditEntry, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, at, actor, action, subject, detail FROM audit WHERE at >= $1 ORDER BY id LIMIT $2`,
		ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("read audit trail: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PurgeCandidates lists submissions with a status in statuses, last changed before cutoff and
// not yet purged, for a route ("" for all routes).
func (s *Store) PurgeCandidates(ctx context.Context, route string, statuses []string, cutoff time.Time) ([]string, error) {
	var ids []string
	for _, st := range statuses {
		rows, err := s.DB.QueryContext(ctx, `SELECT id FROM submissions WHERE status = $1 AND updated_at < $2 AND purged_at = 0
			AND (CAST($3 AS TEXT) = '' OR route = $3)`, st, ms(cutoff), route)
		if err != nil {
			return nil, fmt.Errorf("find submissions to purge: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, id)
		}
		rows.Close()
	}
	return ids, nil
}

// PurgeDue is what makes a submission due for purging: one of Statuses, last changed before
// Before.
type PurgeDue struct {
	Statuses []string
	Before   time.Time
}

// Redacted is what a purged event's detail, attachment name or receipt says instead.
const Redacted = "(deleted by retention)"

// redactedEvents are the event types whose detail may quote the form data: mapping and
// validation problems name values, a receiver's refusal may quote the message; a payment's
// names its reference (Kassenzeichen) and method; a reply channel's artefact or error may name
// the applicant's address.
var redactedEvents = []string{"mapping_failed", "validation_failed", "processing_failed", "rejected", "payment_paid",
	"reply_sent", "reply_failed", "reply_dead"}

// Purge deletes a submission's personal data — the form data, the attachments' content, names
// and hashes, the mapped messages, the receipts' content and the event details that may quote
// any of them — and keeps its metadata, deliveries and the history of what happened. It
// purges only if the submission is still due (checked and changed in one statement, which
// locks the row, so a replay or a status change that came in between wins) and reports whether
// it did.
//
// On SQLite the freed space is zeroed (secure_delete, set when the store opens), so the data is
// gone from the file too; the write-ahead log still holds it until ForgetFreed. On PostgreSQL
// the old row versions stay in the table files until VACUUM and their bytes until the space is
// reused (docs/operations.md).
func Purge(ctx context.Context, ex Execer, id string, at time.Time, due PurgeDue) (bool, error) {
	if len(due.Statuses) == 0 {
		return false, nil
	}
	args := []any{[]byte("{}"), ms(at), id, ms(due.Before)}
	in := make([]string, len(due.Statuses))
	for i, st := range due.Statuses {
		args = append(args, st)
		in[i] = fmt.Sprintf("$%d", len(args))
	}
	res, err := ex.ExecContext(ctx, `UPDATE submissions SET data = $1, meta = '{}', purged_at = $2
		WHERE id = $3 AND purged_at = 0 AND updated_at < $4 AND status IN (`+strings.Join(in, ", ")+`)`, args...)
	if err != nil {
		return false, fmt.Errorf("purge %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // changed since it was listed: no longer due
	}
	steps := []struct{ what, query string }{
		{"attachments", `DELETE FROM attachment_chunks WHERE submission_id = $1`},
		{"attachment names", `UPDATE attachments SET filename = '` + Redacted + `', package_name = '', sha256 = '', title = '' WHERE submission_id = $1`},
		{"messages", `UPDATE messages SET xml = '' WHERE submission_id = $1`},
		{"receipts", `UPDATE receipts SET content = NULL, detail = '` + Redacted + `' WHERE submission_id = $1`},
		{"payment hold", `DELETE FROM payment_holds WHERE submission_id = $1`},
		{"delivery errors", `UPDATE deliveries SET last_error = '` + Redacted + `' WHERE submission_id = $1 AND status = 'rejected'`},
		{"event details", `UPDATE events SET detail = '` + Redacted + `' WHERE submission_id = $1 AND type IN ('` +
			strings.Join(redactedEvents, "', '") + `')`},
		{"reply documents", `DELETE FROM attachment_chunks WHERE submission_id IN (SELECT id FROM replies WHERE submission_id = $1)`},
		{"reply document names", `UPDATE reply_documents SET name = '` + Redacted + `', sha256 = ''
			WHERE reply_id IN (SELECT id FROM replies WHERE submission_id = $1)`},
		{"replies", `UPDATE replies SET subject = '', text = '', message = NULL,
			purged_at = (SELECT purged_at FROM submissions WHERE id = $1) WHERE submission_id = $1`},
		{"reply delivery errors", `UPDATE reply_deliveries SET last_error = '` + Redacted + `'
			WHERE last_error != '' AND reply_id IN (SELECT id FROM replies WHERE submission_id = $1)`},
	}
	for _, st := range steps {
		if _, err := ex.ExecContext(ctx, st.query, id); err != nil {
			return false, fmt.Errorf("purge %s of %s: %w", st.what, id, err)
		}
	}
	return true, AddEvent(ctx, ex, id, Event{At: at, Type: "purged",
		Detail: "form data, attachments, messages, replies and details that may quote them deleted (retention)"})
}

// ForgetFreed removes from the disk what purged data may still be there besides the zeroed
// pages: on SQLite it copies the write-ahead log into the database file and truncates it, so
// the frames of earlier transactions, which still hold the data, are gone. On PostgreSQL it
// runs VACUUM on the tables Purge changes, so the old row versions are removed (their bytes
// stay in the files until the space is reused; docs/operations.md).
func (s *Store) ForgetFreed(ctx context.Context) error {
	if s.Driver == Postgres {
		_, err := s.DB.ExecContext(ctx, `VACUUM submissions, attachments, attachment_chunks, messages, receipts, deliveries, events, replies, reply_documents, reply_deliveries`)
		if err != nil {
			return fmt.Errorf("vacuum after purge: %w", err)
		}
		return nil
	}
	if err := s.Broken(); err != nil {
		return err
	}
	s.checkpointMu.Lock() // a background checkpoint would make SQLite refuse this one
	defer s.checkpointMu.Unlock()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var busy, frames, copied int
	if err := s.DB.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
		return fmt.Errorf("checkpoint after purge: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint after purge: readers kept the write-ahead log busy; it is truncated on the next run")
	}
	return nil
}

// Purged tells whether a submission's data was purged.
func (s *Store) Purged(ctx context.Context, id string) (bool, error) {
	var at int64
	if err := s.DB.QueryRowContext(ctx, `SELECT purged_at FROM submissions WHERE id = $1`, id).Scan(&at); err != nil {
		return false, err
	}
	return at != 0, nil
}
