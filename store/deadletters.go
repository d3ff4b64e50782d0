package store

import (
	"context"
	"fmt"
	"time"
)

// DeadLetter is a delivery that gave up, with what is needed to judge and replay it.
type DeadLetter struct {
	Delivery
	MessageID   string
	MessageType string
	Portal      string
	Reference   string
	Route       string
}

// DeadLetters lists dead deliveries, oldest first; destination "" lists all.
func (s *Store) DeadLetters(ctx context.Context, destination string) ([]DeadLetter, error) {
	return s.FindDeadLetters(ctx, DeadLetterFilter{Destination: destination})
}

// DeadLetterFilter selects dead letters; zero fields select all.
type DeadLetterFilter struct {
	Destination string
	Route       string    // the submission's route
	Since       time.Time // dead at or after this time
}

// FindDeadLetters lists the dead deliveries the filter selects, oldest first (the index on
// deliveries' status and time serves it).
func (s *Store) FindDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	var since int64
	if !f.Since.IsZero() {
		since = ms(f.Since)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT d.submission_id, d.destination, d.status, d.attempts, d.last_error,
			d.next_attempt_at, d.artefact, d.remote_id, d.created_at, d.updated_at,
			COALESCE(m.message_id, ''), COALESCE(m.message_type, ''), s.portal, s.reference, s.route
		FROM deliveries d JOIN submissions s ON s.id = d.submission_id
		LEFT JOIN messages m ON m.submission_id = d.submission_id AND m.destination = d.destination
		WHERE d.status = $1 AND (CAST($2 AS TEXT) = '' OR d.destination = $2) AND (CAST($3 AS TEXT) = '' OR s.route = $3)
			AND d.updated_at >= $4
		ORDER BY d.updated_at, d.submission_id, d.destination`, DeliveryDead, f.Destination, f.Route, since)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var dl DeadLetter
		var extra []any
		d, err := scanDelivery(func(dest ...any) error {
			extra = []any{&dl.MessageID, &dl.MessageType, &dl.Portal, &dl.Reference, &dl.Route}
			return rows.Scan(append(dest, extra...)...)
		})
		if err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		dl.Delivery = d
		out = append(out, dl)
	}
	return out, rows.Err()
}

// LockUnpurged locks a submission's row for the rest of the transaction and reports whether
// its data is still there (not purged by retention). A replay calls it first: on PostgreSQL a
// purge running at the same time then either finishes first (and the replay sees it) or finds
// the submission revived and no longer due.
func LockUnpurged(ctx context.Context, ex Execer, submissionID string) (bool, error) {
	res, err := ex.ExecContext(ctx, `UPDATE submissions SET updated_at = updated_at WHERE id = $1 AND purged_at = 0`, submissionID)
	if err != nil {
		return false, fmt.Errorf("lock submission %s: %w", submissionID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Revive makes a dead delivery pending again for a replay, counting attempts and age from now.
// It reports false if the delivery is not dead (nothing to replay).
func Revive(ctx context.Context, ex Execer, submissionID, destination string, at time.Time) (bool, error) {
	res, err := ex.ExecContext(ctx, `UPDATE deliveries SET status = $1, attempts = 0, next_attempt_at = 0,
			created_at = $2, updated_at = $3
		WHERE submission_id = $4 AND destination = $5 AND status = $6`,
		DeliveryPending, ms(at), ms(at), submissionID, destination, DeliveryDead)
	if err != nil {
		return false, fmt.Errorf("revive delivery of %s to %s: %w", submissionID, destination, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
