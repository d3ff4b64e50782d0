package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Requeue makes a failed submission received again, for a reprocess: routing, mapping and
// validation run once more with the configuration of the day. It reports false if the
// submission is not failed (nothing to reprocess) or retention purged its data.
func Requeue(ctx context.Context, ex Execer, submissionID string, at time.Time) (bool, error) {
	res, err := ex.ExecContext(ctx, `UPDATE submissions SET status = $1, updated_at = $2
		WHERE id = $3 AND status = $4 AND purged_at = 0`, StatusReceived, ms(at), submissionID, StatusFailed)
	if err != nil {
		return false, fmt.Errorf("requeue submission %s: %w", submissionID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SetRoute records the route a reprocess chose for a submission.
func SetRoute(ctx context.Context, ex Execer, submissionID, route string) error {
	if _, err := ex.ExecContext(ctx, `UPDATE submissions SET route = $1 WHERE id = $2`, route, submissionID); err != nil {
		return fmt.Errorf("set route of submission %s: %w", submissionID, err)
	}
	return nil
}

// FailedFilter selects failed submissions; zero fields select all.
type FailedFilter struct {
	Route string    // only this route
	Since time.Time // only those that failed at or after this time
	Limit int       // at most this many (0: 10,000)
}

// FailedSubmissions lists the ids of failed submissions whose data is still there, oldest
// failure first.
func (s *Store) FailedSubmissions(ctx context.Context, f FailedFilter) ([]string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id FROM submissions
		WHERE status = $1 AND purged_at = 0 AND ($2 = '' OR route = $2) AND updated_at >= $3
		ORDER BY updated_at, id LIMIT $4`, StatusFailed, f.Route, ms(f.Since), limit)
	if err != nil {
		return nil, fmt.Errorf("list failed submissions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list failed submissions: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// FailedSubmission is a failed submission as a list shows it: the first line of the reason.
type FailedSubmission struct {
	ID        string
	Reference string
	Portal    string
	Route     string
	FailedAt  time.Time
	// Failure is the type of the event that failed the submission (mapping_failed,
	// validation_failed …) and the first line of its detail.
	FailureType, Failure string
}

// FailedEventTypes are the events that fail a submission.
var FailedEventTypes = []string{"routing_failed", "mapping_failed", "validation_failed", "processing_failed", "payment_failed"}

// FailedSubmissionList lists the failed submissions whose data is still there, oldest failure
// first, each with the reason of its latest failure.
func (s *Store) FailedSubmissionList(ctx context.Context, f FailedFilter) ([]FailedSubmission, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT s.id, s.reference, s.portal, s.route, s.updated_at,
			COALESCE((SELECT e.type || ' ' || e.detail FROM events e WHERE e.submission_id = s.id
				AND e.type IN ('routing_failed', 'mapping_failed', 'validation_failed', 'processing_failed', 'payment_failed')
				ORDER BY e.id DESC LIMIT 1), '')
		FROM submissions s
		WHERE s.status = $1 AND s.purged_at = 0 AND ($2 = '' OR s.route = $2) AND s.updated_at >= $3
		ORDER BY s.updated_at, s.id LIMIT $4`, StatusFailed, f.Route, ms(f.Since), limit)
	if err != nil {
		return nil, fmt.Errorf("list failed submissions: %w", err)
	}
	defer rows.Close()
	var out []FailedSubmission
	for rows.Next() {
		var fs FailedSubmission
		var at int64
		var failure string
		if err := rows.Scan(&fs.ID, &fs.Reference, &fs.Portal, &fs.Route, &at, &failure); err != nil {
			return nil, fmt.Errorf("list failed submissions: %w", err)
		}
		fs.FailedAt = fromMS(at)
		fs.FailureType, fs.Failure, _ = strings.Cut(failure, " ")
		fs.Failure, _, _ = strings.Cut(fs.Failure, "\n")
		out = append(out, fs)
	}
	return out, rows.Err()
}
