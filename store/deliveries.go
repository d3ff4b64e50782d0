package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// Delivery statuses per destination.
const (
	DeliveryPending      = "pending"
	DeliveryDelivered    = "delivered"
	DeliveryDead         = "dead"
	DeliveryAcknowledged = "acknowledged" // a receipt confirmed it
	DeliveryRejected     = "rejected"     // a receipt refused it
)

// Message is the XÖV message mapped from a submission for one destination.
type Message struct {
	SubmissionID string
	Destination  string
	MessageID    string // the ProzessID every delivered artefact carries
	MessageType  string // e.g. Abgabe.Abgabe.0401
	SchemaSet    string
	CreatedAt    time.Time
	// XML is the message: XÖV XML, or JSON where MediaType says so.
	XML []byte
	// MediaType is the message's media type; "" reads as application/xml.
	MediaType string
}

// MediaTypeXML and MediaTypeJSON are the media types a message can have.
const (
	MediaTypeXML  = "application/xml"
	MediaTypeJSON = "application/json"
)

// Delivery is the state of one submission at one destination.
type Delivery struct {
	SubmissionID  string
	Destination   string
	Status        string
	Attempts      int
	LastError     string
	NextAttemptAt time.Time // zero when no attempt is scheduled
	Artefact      string    // where the destination got it, e.g. a file path
	// RemoteID is the id the receiving system gave the delivered object, from its receipt
	// (e.g. the DMS id in an xdomea FVDaten.ImportBestaetigen.0630); "" if none.
	RemoteID  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// InsertMessage stores the mapped message of a submission.
func InsertMessage(ctx context.Context, ex Execer, m Message) error {
	mt := m.MediaType
	if mt == "" {
		mt = MediaTypeXML
	}
	_, err := ex.ExecContext(ctx, `INSERT INTO messages (submission_id, destination, message_id, message_type, schema_set, created_at, xml, media_type)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, m.SubmissionID, m.Destination, m.MessageID, m.MessageType, m.SchemaSet, ms(m.CreatedAt), m.XML, mt)
	if err != nil {
		return fmt.Errorf("store message of submission %s for %s: %w", m.SubmissionID, m.Destination, err)
	}
	return nil
}

// Message loads the message mapped from a submission for a destination.
func (s *Store) Message(ctx context.Context, submissionID, destination string) (Message, error) {
	return readMessage(ctx, s.DB, submissionID, destination)
}

func readMessage(ctx context.Context, q querier, submissionID, destination string) (Message, error) {
	var m Message
	var created int64
	err := q.QueryRowContext(ctx, `SELECT submission_id, destination, message_id, message_type, schema_set, created_at, xml, media_type
		FROM messages WHERE submission_id = $1 AND destination = $2`, submissionID, destination).
		Scan(&m.SubmissionID, &m.Destination, &m.MessageID, &m.MessageType, &m.SchemaSet, &created, &m.XML, &m.MediaType)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("read message of submission %s: %w", submissionID, err)
	}
	m.CreatedAt = fromMS(created)
	return m, nil
}

// InsertDelivery creates the pending delivery of a submission to a destination.
func InsertDelivery(ctx context.Context, ex Execer, submissionID, destination string, at time.Time) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO deliveries (submission_id, destination, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)`, submissionID, destination, DeliveryPending, ms(at), ms(at))
	if err != nil {
		return fmt.Errorf("create delivery of %s to %s: %w", submissionID, destination, err)
	}
	return nil
}

// UpdateDelivery saves the outcome of a delivery attempt — or a rescheduling, or giving up —
// if the delivery is still as the caller read it: pending, with the attempts it had. It reports
// false when something else concluded or attempted the delivery in the meantime (a receipt, a
// handler of a duplicate queue message): that outcome stands, and the caller's is not saved.
func UpdateDelivery(ctx context.Context, ex Execer, d Delivery, readAttempts int) (bool, error) {
	var next int64
	if !d.NextAttemptAt.IsZero() {
		next = ms(d.NextAttemptAt)
	}
	res, err := ex.ExecContext(ctx, `UPDATE deliveries SET status = $1, attempts = $2, last_error = $3, next_attempt_at = $4,
		artefact = $5, updated_at = $6 WHERE submission_id = $7 AND destination = $8 AND status = $9 AND attempts = $10`,
		d.Status, d.Attempts, d.LastError, next, d.Artefact, ms(d.UpdatedAt), d.SubmissionID, d.Destination,
		DeliveryPending, readAttempts)
	if err != nil {
		return false, fmt.Errorf("update delivery of %s to %s: %w", d.SubmissionID, d.Destination, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update delivery of %s to %s: %w", d.SubmissionID, d.Destination, err)
	}
	return n == 1, nil
}

// SetReceiptOutcome sets a delivery acknowledged or rejected by a receipt, with the id the
// receiving system gave the object if the receipt names one (remoteID; "" keeps what is there).
// It changes only these, in one statement, so that it never writes back anything read earlier:
// a delivery attempt finishing at the same time keeps its attempts and artefact, and cannot
// undo the receipt (UpdateDelivery saves only over a pending delivery).
func SetReceiptOutcome(ctx context.Context, ex Execer, submissionID, destination, outcome, reason, remoteID string, at time.Time) error {
	_, err := ex.ExecContext(ctx, `UPDATE deliveries SET status = $1, updated_at = $2, next_attempt_at = 0,
		last_error = CASE WHEN $1 = '`+DeliveryRejected+`' THEN $3 ELSE last_error END,
		remote_id = CASE WHEN $4 = '' THEN remote_id ELSE $4 END
		WHERE submission_id = $5 AND destination = $6`, outcome, ms(at), reason, remoteID, submissionID, destination)
	if err != nil {
		return fmt.Errorf("set receipt outcome of %s to %s: %w", submissionID, destination, err)
	}
	return nil
}

const deliveryColumns = `submission_id, destination, status, attempts, last_error, next_attempt_at, artefact, remote_id, created_at, updated_at`

func scanDelivery(scan func(...any) error) (Delivery, error) {
	var d Delivery
	var next, created, updated int64
	if err := scan(&d.SubmissionID, &d.Destination, &d.Status, &d.Attempts, &d.LastError, &next, &d.Artefact, &d.RemoteID, &created, &updated); err != nil {
		return Delivery{}, err
	}
	if next != 0 {
		d.NextAttemptAt = fromMS(next)
	}
	d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
	return d, nil
}

// Delivery loads the delivery of a submission to one destination.
func (s *Store) Delivery(ctx context.Context, submissionID, destination string) (Delivery, error) {
	row := s.DB.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE submission_id = $1 AND destination = $2`,
		submissionID, destination)
	d, err := scanDelivery(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("read delivery of %s to %s: %w", submissionID, destination, err)
	}
	return d, nil
}

// ConfirmReceived sets a delivery acknowledged by an Empfangsbestätigung, unless an import's
// outcome already concluded it (acknowledged or rejected): a receipt that only says the message
// arrived never overrides what its import said.
func ConfirmReceived(ctx context.Context, ex Execer, submissionID, destination string, at time.Time) error {
	_, err := ex.ExecContext(ctx, `UPDATE deliveries SET status = $1, updated_at = $2, next_attempt_at = 0
		WHERE submission_id = $3 AND destination = $4 AND status NOT IN ($5, $6)`,
		DeliveryAcknowledged, ms(at), submissionID, destination, DeliveryAcknowledged, DeliveryRejected)
	if err != nil {
		return fmt.Errorf("confirm receipt of %s to %s: %w", submissionID, destination, err)
	}
	return nil
}

// ReadDelivery loads the delivery of a submission to one destination through q — a pipeline
// stage's queue transaction, so that a transaction whose session was lost fails here, before
// the stage acts on the message (queue.Broken).
func ReadDelivery(ctx context.Context, q wmsql.ContextExecutor, submissionID, destination string) (Delivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE submission_id = $1 AND destination = $2`,
		submissionID, destination)
	if err != nil {
		return Delivery{}, fmt.Errorf("read delivery of %s to %s: %w", submissionID, destination, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if e, ok := rows.(interface{ Err() error }); ok && e.Err() != nil {
			return Delivery{}, fmt.Errorf("read delivery of %s to %s: %w", submissionID, destination, e.Err())
		}
		return Delivery{}, ErrNotFound
	}
	d, err := scanDelivery(rows.Scan)
	if err != nil {
		return Delivery{}, fmt.Errorf("read delivery of %s to %s: %w", submissionID, destination, err)
	}
	return d, nil
}

// Deliveries lists the deliveries of a submission by destination.
func (s *Store) Deliveries(ctx context.Context, submissionID string) ([]Delivery, error) {
	return readDeliveries(ctx, s.DB, submissionID)
}

func readDeliveries(ctx context.Context, q querier, submissionID string) ([]Delivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE submission_id = $1 ORDER BY destination`, submissionID)
	if err != nil {
		return nil, fmt.Errorf("read deliveries of %s: %w", submissionID, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("read deliveries of %s: %w", submissionID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// refreshStatusQuery derives the status in one pass over the submission's own deliveries, read
// by the primary key (submission_id, destination). Subqueries of the form "submission_id = ? AND
// status = 'pending'" let SQLite's planner, which has no statistics, read them through the
// deliveries_status index instead, stepping through every pending (or dead) delivery of every
// submission: a destination with a backlog made each other destination's deliveries slower.
const refreshStatusQuery = `UPDATE submissions SET updated_at = $1, status = (SELECT CASE
		WHEN COALESCE(MAX(CASE WHEN status = '` + DeliveryPending + `' THEN 1 ELSE 0 END), 0) = 1 THEN '` + StatusProcessing + `'
		WHEN COALESCE(MAX(CASE WHEN status = '` + DeliveryDead + `' THEN 1 ELSE 0 END), 0) = 1 THEN '` + StatusDead + `'
		WHEN COALESCE(MAX(CASE WHEN status = '` + DeliveryRejected + `' THEN 1 ELSE 0 END), 0) = 1 THEN '` + StatusRejected + `'
		WHEN COALESCE(MIN(CASE WHEN status = '` + DeliveryAcknowledged + `' THEN 1 ELSE 0 END), 1) = 1 THEN '` + StatusAcknowledged + `'
		ELSE '` + StatusDelivered + `' END
		FROM deliveries WHERE submission_id = $2)
	WHERE id = $2 AND status NOT IN ('` + StatusInProgress + `', '` + StatusDecided + `', '` + StatusClosed + `')`

// RefreshStatus derives a submission's status from its deliveries, so that two destinations
// finishing at the same time cannot both miss the other's outcome: processing while any delivery
// is pending, else dead if any is dead, else rejected if a receipt refused one, else acknowledged
// when receipts confirmed all, else delivered. A status a Fachverfahren's reply set (in
// progress, decided, closed) stays: the applicant sees what the authority said (AdvanceStatus).
//
// On PostgreSQL it first locks the submission's row (a write to it): a concurrent refresh of
// the same submission waits there until the other transaction commits, and the deriving
// statement, which starts after the wait, sees that transaction's deliveries (READ COMMITTED).
// SQLite serialises writers anyway, so there the row is written once, not twice.
func (s *Store) RefreshStatus(ctx context.Context, ex Execer, submissionID string, at time.Time) error {
	if s.Driver == Postgres {
		if _, err := ex.ExecContext(ctx, `UPDATE submissions SET updated_at = $1 WHERE id = $2`, ms(at), submissionID); err != nil {
			return fmt.Errorf("lock submission %s: %w", submissionID, err)
		}
	}
	_, err := ex.ExecContext(ctx, refreshStatusQuery, ms(at), submissionID)
	if err != nil {
		return fmt.Errorf("refresh status of submission %s: %w", submissionID, err)
	}
	return nil
}

// MessageByID finds the stored message with a message id (ProzessID), to match a receipt.
func (s *Store) MessageByID(ctx context.Context, messageID string) (Message, error) {
	var m Message
	var created int64
	err := s.DB.QueryRowContext(ctx, `SELECT submission_id, destination, message_id, message_type, schema_set, created_at, xml, media_type
		FROM messages WHERE message_id = $1`, messageID).
		Scan(&m.SubmissionID, &m.Destination, &m.MessageID, &m.MessageType, &m.SchemaSet, &created, &m.XML, &m.MediaType)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("find message %s: %w", messageID, err)
	}
	m.CreatedAt = fromMS(created)
	return m, nil
}

// Receipt is an answer of a receiving system, as it was filed.
type Receipt struct {
	File         string
	ReceivedAt   time.Time
	Kind         string // e.g. Abgabe.ImportBestaetigen.0402, or "unknown"
	MessageID    string
	SubmissionID string
	Destination  string
	Outcome      string // acknowledged, rejected, unmatched, malformed
	Detail       string
	Content      []byte
}

// InsertReceipt files a receipt, whatever its outcome.
func InsertReceipt(ctx context.Context, ex Execer, r Receipt) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO receipts (file, received_at, kind, message_id, submission_id, destination, outcome, detail, content)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.File, ms(r.ReceivedAt), r.Kind, r.MessageID, r.SubmissionID, r.Destination,
		r.Outcome, r.Detail, r.Content)
	if err != nil {
		return fmt.Errorf("file receipt %s: %w", r.File, err)
	}
	return nil
}

// Receipts lists filed receipts with an outcome ("" for all), newest first.
func (s *Store) Receipts(ctx context.Context, outcome string) ([]Receipt, error) {
	return s.queryReceipts(ctx, "list receipts", `WHERE CAST($1 AS TEXT) = '' OR outcome = $1 ORDER BY id DESC`, outcome)
}

// queryReceipts lists receipts without their content: where is the query's WHERE and ORDER BY.
func (s *Store) queryReceipts(ctx context.Context, what, where string, args ...any) ([]Receipt, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT file, received_at, kind, message_id, submission_id, destination, outcome, detail
		FROM receipts `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var r Receipt
		var at int64
		if err := rows.Scan(&r.File, &at, &r.Kind, &r.MessageID, &r.SubmissionID, &r.Destination, &r.Outcome, &r.Detail); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		r.ReceivedAt = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MessageInfo describes a stored message without its content.
type MessageInfo struct {
	Destination, MessageID, MessageType, SchemaSet, MediaType string
	CreatedAt                                                 time.Time
	// Size is the content's length in bytes: 0 once retention purged it.
	Size int64
}

// MessageInfos lists the messages mapped from a submission by destination, without content.
func (s *Store) MessageInfos(ctx context.Context, submissionID string) ([]MessageInfo, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT destination, message_id, message_type, schema_set, media_type, created_at, LENGTH(xml)
		FROM messages WHERE submission_id = $1 ORDER BY destination`, submissionID)
	if err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", submissionID, err)
	}
	defer rows.Close()
	var out []MessageInfo
	for rows.Next() {
		var m MessageInfo
		var created int64
		var size sql.NullInt64
		if err := rows.Scan(&m.Destination, &m.MessageID, &m.MessageType, &m.SchemaSet, &m.MediaType, &created, &size); err != nil {
			return nil, fmt.Errorf("read messages of %s: %w", submissionID, err)
		}
		m.CreatedAt, m.Size = fromMS(created), size.Int64
		out = append(out, m)
	}
	return out, rows.Err()
}

// SubmissionReceipts lists the receipts matched to a submission, oldest first, without their
// content.
func (s *Store) SubmissionReceipts(ctx context.Context, submissionID string) ([]Receipt, error) {
	return s.queryReceipts(ctx, "read receipts of "+submissionID, `WHERE submission_id = $1 ORDER BY id`, submissionID)
}
