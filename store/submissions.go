package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Submission statuses as the portal sees them.
const (
	StatusReceived   = "received"
	StatusProcessing = "processing"
	StatusDelivered  = "delivered"
	StatusFailed     = "failed"
	StatusDead       = "dead"
	// The receiving side confirmed (receipt) or refused the delivered message.
	StatusAcknowledged = "acknowledged"
	StatusRejected     = "rejected"
)

// Submission is one application a portal handed in.
type Submission struct {
	ID             string
	Portal         string
	Reference      string
	Leistung       string
	AGS            string
	ARS            string
	Route          string
	Status         string
	Data           []byte // the form data as JSON
	IdempotencyKey string
	RequestHash    string
	ReceivedAt     time.Time
	UpdatedAt      time.Time
}

// Attachment is a file handed in with a submission.
type Attachment struct {
	Seq         int
	Filename    string // as the portal named it
	PackageName string // safe and unique name inside a delivered package
	MediaType   string
	Size        int64
	SHA256      string // hex
	Content     []byte // nil when loaded without content
}

// Event is one step in a submission's history.
type Event struct {
	At          time.Time
	Type        string
	Destination string
	Detail      string
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// InsertSubmission stores a new submission with its attachments and a "received" event.
func InsertSubmission(ctx context.Context, ex Execer, sub Submission, atts []Attachment) error {
	var idem any
	if sub.IdempotencyKey != "" {
		idem = sub.IdempotencyKey
	}
	_, err := ex.ExecContext(ctx, `INSERT INTO submissions
		(id, portal, reference, leistung, ags, ars, route, status, data, idempotency_key, request_hash, received_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sub.ID, sub.Portal, sub.Reference, sub.Leistung, sub.AGS, sub.ARS, sub.Route, sub.Status, sub.Data,
		idem, sub.RequestHash, ms(sub.ReceivedAt), ms(sub.ReceivedAt))
	if err != nil {
		return fmt.Errorf("insert submission %s: %w", sub.ID, err)
	}
	for _, a := range atts {
		_, err := ex.ExecContext(ctx, `INSERT INTO attachments
			(submission_id, seq, filename, package_name, media_type, size, sha256, content)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sub.ID, a.Seq, a.Filename, a.PackageName, a.MediaType, a.Size, a.SHA256, a.Content)
		if err != nil {
			return fmt.Errorf("insert attachment %d of submission %s: %w", a.Seq, sub.ID, err)
		}
	}
	return AddEvent(ctx, ex, sub.ID, Event{At: sub.ReceivedAt, Type: "received"})
}

// AddEvent appends an event to a submission's history.
func AddEvent(ctx context.Context, ex Execer, submissionID string, e Event) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO events (submission_id, at, type, destination, detail) VALUES (?, ?, ?, ?, ?)`,
		submissionID, ms(e.At), e.Type, e.Destination, e.Detail)
	if err != nil {
		return fmt.Errorf("record event %s of submission %s: %w", e.Type, submissionID, err)
	}
	return nil
}

// SetStatus changes a submission's status.
func SetStatus(ctx context.Context, ex Execer, submissionID, status string, at time.Time) error {
	_, err := ex.ExecContext(ctx, `UPDATE submissions SET status = ?, updated_at = ? WHERE id = ?`,
		status, ms(at), submissionID)
	if err != nil {
		return fmt.Errorf("set status of submission %s: %w", submissionID, err)
	}
	return nil
}

const submissionColumns = `id, portal, reference, leistung, ags, ars, route, status, data,
	COALESCE(idempotency_key, ''), request_hash, received_at, updated_at`

func scanSubmission(row *sql.Row) (Submission, error) {
	var s Submission
	var received, updated int64
	err := row.Scan(&s.ID, &s.Portal, &s.Reference, &s.Leistung, &s.AGS, &s.ARS, &s.Route, &s.Status, &s.Data,
		&s.IdempotencyKey, &s.RequestHash, &received, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Submission{}, ErrNotFound
	}
	if err != nil {
		return Submission{}, fmt.Errorf("read submission: %w", err)
	}
	s.ReceivedAt, s.UpdatedAt = fromMS(received), fromMS(updated)
	return s, nil
}

// Submission loads one submission.
func (s *Store) Submission(ctx context.Context, id string) (Submission, error) {
	return scanSubmission(s.DB.QueryRowContext(ctx, `SELECT `+submissionColumns+` FROM submissions WHERE id = ?`, id))
}

// SubmissionByIdempotencyKey finds the submission a portal created with an Idempotency-Key.
func (s *Store) SubmissionByIdempotencyKey(ctx context.Context, portal, key string) (Submission, error) {
	return scanSubmission(s.DB.QueryRowContext(ctx,
		`SELECT `+submissionColumns+` FROM submissions WHERE portal = ? AND idempotency_key = ?`, portal, key))
}

// Attachments lists a submission's attachments in order, with their content if asked.
func (s *Store) Attachments(ctx context.Context, submissionID string, withContent bool) ([]Attachment, error) {
	content := `NULL`
	if withContent {
		content = `content`
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT seq, filename, package_name, media_type, size, sha256, `+content+`
		FROM attachments WHERE submission_id = ? ORDER BY seq`, submissionID)
	if err != nil {
		return nil, fmt.Errorf("read attachments of %s: %w", submissionID, err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.Seq, &a.Filename, &a.PackageName, &a.MediaType, &a.Size, &a.SHA256, &a.Content); err != nil {
			return nil, fmt.Errorf("read attachments of %s: %w", submissionID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Events lists a submission's history, oldest first.
func (s *Store) Events(ctx context.Context, submissionID string) ([]Event, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT at, type, destination, detail FROM events
		WHERE submission_id = ? ORDER BY id`, submissionID)
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", submissionID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&at, &e.Type, &e.Destination, &e.Detail); err != nil {
			return nil, fmt.Errorf("read events of %s: %w", submissionID, err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
