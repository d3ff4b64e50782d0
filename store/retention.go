package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one line of the append-only audit trail: who did what to what.
type AuditEntry struct {
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
	rows, err := s.DB.QueryContext(ctx, `SELECT at, actor, action, subject, detail FROM audit WHERE at >= $1 ORDER BY id LIMIT $2`,
		ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("read audit trail: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
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

// Purge deletes a submission's personal data — the form data, the attachments' content and the
// mapped messages — and keeps its metadata, deliveries and history.
func Purge(ctx context.Context, ex Execer, id string, at time.Time) error {
	if _, err := ex.ExecContext(ctx, `UPDATE submissions SET data = $1, purged_at = $2 WHERE id = $3`, []byte("{}"), ms(at), id); err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	if _, err := ex.ExecContext(ctx, `DELETE FROM attachment_chunks WHERE submission_id = $1`, id); err != nil {
		return fmt.Errorf("purge attachments of %s: %w", id, err)
	}
	if _, err := ex.ExecContext(ctx, `UPDATE messages SET xml = $1 WHERE submission_id = $2`, []byte{}, id); err != nil {
		return fmt.Errorf("purge messages of %s: %w", id, err)
	}
	return AddEvent(ctx, ex, id, Event{At: at, Type: "purged", Detail: "form data, attachments and messages deleted (retention)"})
}

// Purged tells whether a submission's data was purged.
func (s *Store) Purged(ctx context.Context, id string) (bool, error) {
	var at int64
	if err := s.DB.QueryRowContext(ctx, `SELECT purged_at FROM submissions WHERE id = $1`, id).Scan(&at); err != nil {
		return false, err
	}
	return at != 0, nil
}
