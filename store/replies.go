package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// Citizen-visible statuses a Fachverfahren's reply moves a submission to. They rank above the
// delivery statuses: once a Fachverfahren said the case is in progress, decided or closed, a
// delivery's outcome no longer changes what the applicant sees (RefreshStatus), and a reply
// never moves a submission back (AdvanceStatus).
const (
	StatusInProgress = "in_progress"
	StatusDecided    = "decided"
	StatusClosed     = "closed"
)

// Reply delivery statuses per channel.
const (
	ReplyPending = "pending"
	ReplySent    = "sent"
	ReplyDead    = "dead"
)

// Topics of the reply stages: TopicReplies plans a stored reply's channels; each channel has
// its own queue (ReplyTopic), so one slow channel does not hold up another.
const TopicReplies = "replies"

// ReplyTopic is the queue of one reply channel.
func ReplyTopic(channel string) string { return "reply_" + channel }

// Reply is an answer of a Fachverfahren to a submission.
type Reply struct {
	ID           string
	SubmissionID string
	// Source is the destination (Fachverfahren) that sent it; Via how it came: inbox, http.
	Source, Via string
	// ExternalID is the Fachverfahren's own id of the reply, unique per source: the same reply
	// handed in twice is stored once. "" when it gave none.
	ExternalID string
	Kind       string
	// Status is the citizen-visible status the reply moves the submission to.
	Status        string
	Subject, Text string
	// Message is an XÖV message the reply carried (validated), MessageType its type.
	Message     []byte
	MessageType string
	ReceivedAt  time.Time
	PurgedAt    time.Time
}

// ReplyDocument is a file of a reply. Content is read once by InsertReply, which sets Size and,
// unless given, SHA256; documents loaded from the store have none: read them with
// OpenReplyDocument.
type ReplyDocument struct {
	Seq       int
	Name      string
	MediaType string
	Size      int64
	SHA256    string
	Content   io.Reader
}

// ReplyDelivery is the state of one reply on one channel.
type ReplyDelivery struct {
	ReplyID       string
	Channel       string
	Status        string
	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	Artefact      string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// FiledReply is a reply that could not be taken: unmatched, malformed, unauthorised, or for a
// submission whose data retention purged. It is kept for operators and never delivered.
type FiledReply struct {
	ID         int64
	ReceivedAt time.Time
	Via        string // inbox, http
	Source     string // the destination it claimed or authenticated as ("" if unknown)
	Origin     string // the file name, or the HTTP client's address
	Outcome    string
	Detail     string
	// Names is what the reply named as the original (a submission id, ProzessID, caseId).
	Names string
	// Content is the reply as received (a bounded prefix for HTTP), nil if not kept.
	Content []byte
}

// Outcomes of a filed reply.
const (
	FiledUnmatched    = "unmatched"
	FiledMalformed    = "malformed"
	FiledUnauthorised = "unauthorised"
	FiledPurged       = "purged"
)

// InsertReply stores a reply and its documents, streaming their content in chunks (in the
// chunk table of attachments, under the reply's id) and setting Size and SHA256 from it. It
// reports ErrDuplicate when the source already handed in a reply with the same ExternalID.
func InsertReply(ctx context.Context, ex Execer, r Reply, docs []ReplyDocument) error {
	var ext any
	if r.ExternalID != "" {
		ext = r.ExternalID
	}
	_, err := ex.ExecContext(ctx, `INSERT INTO replies (id, submission_id, source, via, external_id, kind, status, subject, text,
		message_type, message, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.ID, r.SubmissionID, r.Source, r.Via, ext, r.Kind, r.Status, r.Subject, r.Text, r.MessageType, r.Message, ms(r.ReceivedAt))
	if err != nil {
		if isUniqueViolation(err) {
			return ErrDuplicate
		}
		return fmt.Errorf("insert reply %s: %w", r.ID, err)
	}
	for i := range docs {
		d := &docs[i]
		a := Attachment{Seq: d.Seq, SHA256: d.SHA256, Content: d.Content}
		if err := writeChunks(ctx, ex, r.ID, &a); err != nil {
			return err
		}
		d.Size, d.SHA256 = a.Size, a.SHA256
		if _, err := ex.ExecContext(ctx, `INSERT INTO reply_documents (reply_id, seq, name, media_type, size, sha256)
			VALUES ($1, $2, $3, $4, $5, $6)`, r.ID, d.Seq, d.Name, d.MediaType, d.Size, d.SHA256); err != nil {
			return fmt.Errorf("insert document %d of reply %s: %w", d.Seq, r.ID, err)
		}
	}
	return nil
}

const replyColumns = `id, submission_id, source, via, COALESCE(external_id, ''), kind, status, subject, text, message_type,
	message, received_at, purged_at`

func scanReply(scan func(...any) error) (Reply, error) {
	var r Reply
	var received, purged int64
	if err := scan(&r.ID, &r.SubmissionID, &r.Source, &r.Via, &r.ExternalID, &r.Kind, &r.Status, &r.Subject, &r.Text,
		&r.MessageType, &r.Message, &received, &purged); err != nil {
		return Reply{}, err
	}
	r.ReceivedAt = fromMS(received)
	if purged != 0 {
		r.PurgedAt = fromMS(purged)
	}
	return r, nil
}

// Reply loads a reply.
func (s *Store) Reply(ctx context.Context, id string) (Reply, error) {
	r, err := scanReply(s.DB.QueryRowContext(ctx, `SELECT `+replyColumns+` FROM replies WHERE id = $1`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Reply{}, ErrNotFound
	}
	if err != nil {
		return Reply{}, fmt.Errorf("read reply %s: %w", id, err)
	}
	return r, nil
}

// ReplyByExternalID finds the reply a source handed in under its own id.
func (s *Store) ReplyByExternalID(ctx context.Context, source, externalID string) (Reply, error) {
	r, err := scanReply(s.DB.QueryRowContext(ctx, `SELECT `+replyColumns+` FROM replies WHERE source = $1 AND external_id = $2`,
		source, externalID).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Reply{}, ErrNotFound
	}
	if err != nil {
		return Reply{}, fmt.Errorf("read reply %s of %s: %w", externalID, source, err)
	}
	return r, nil
}

// Replies lists the replies to a submission, oldest first.
func (s *Store) Replies(ctx context.Context, submissionID string) ([]Reply, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+replyColumns+` FROM replies WHERE submission_id = $1 ORDER BY received_at, id`,
		submissionID)
	if err != nil {
		return nil, fmt.Errorf("read replies of %s: %w", submissionID, err)
	}
	defer rows.Close()
	var out []Reply
	for rows.Next() {
		r, err := scanReply(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("read replies of %s: %w", submissionID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReplyDocuments lists a reply's documents by seq.
func (s *Store) ReplyDocuments(ctx context.Context, replyID string) ([]ReplyDocument, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT seq, name, media_type, size, sha256 FROM reply_documents WHERE reply_id = $1 ORDER BY seq`,
		replyID)
	if err != nil {
		return nil, fmt.Errorf("read documents of reply %s: %w", replyID, err)
	}
	defer rows.Close()
	var out []ReplyDocument
	for rows.Next() {
		var d ReplyDocument
		if err := rows.Scan(&d.Seq, &d.Name, &d.MediaType, &d.Size, &d.SHA256); err != nil {
			return nil, fmt.Errorf("read documents of reply %s: %w", replyID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// OpenReplyDocument streams a reply document's content from the store; size is its stored
// Size (see OpenAttachment).
func (s *Store) OpenReplyDocument(ctx context.Context, replyID string, seq int, size int64) io.ReadCloser {
	return s.OpenAttachment(ctx, replyID, seq, size)
}

// AdvanceStatus moves a submission to a citizen-visible status (in_progress, decided, closed)
// unless it already has that status or a later one, and reports whether it moved. A
// submission that was never delivered (received, processing, failed, awaiting payment …) moves
// too: the Fachverfahren knows the case, whatever amtsbote's deliveries say.
func AdvanceStatus(ctx context.Context, ex Execer, submissionID, status string, at time.Time) (bool, error) {
	var lower []string
	switch status {
	case StatusInProgress:
	case StatusDecided:
		lower = []string{StatusInProgress}
	case StatusClosed:
		lower = []string{StatusInProgress, StatusDecided}
	default:
		return false, fmt.Errorf("advance submission %s: %q is not a citizen-visible status", submissionID, status)
	}
	// Statuses at or above the target stay: in_progress, decided, closed minus those below it.
	keep := []any{}
	for _, st := range []string{StatusInProgress, StatusDecided, StatusClosed} {
		if !contains(lower, st) {
			keep = append(keep, st)
		}
	}
	args := append([]any{status, ms(at), submissionID}, keep...)
	in := ""
	for i := range keep {
		if i > 0 {
			in += ", "
		}
		in += fmt.Sprintf("$%d", i+4)
	}
	res, err := ex.ExecContext(ctx, `UPDATE submissions SET status = $1, updated_at = $2 WHERE id = $3 AND status NOT IN (`+in+`)`, args...)
	if err != nil {
		return false, fmt.Errorf("advance submission %s to %s: %w", submissionID, status, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("advance submission %s to %s: %w", submissionID, status, err)
	}
	return n == 1, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// InsertReplyDelivery creates the pending delivery of a reply on one channel.
func InsertReplyDelivery(ctx context.Context, ex Execer, replyID, channel string, at time.Time) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO reply_deliveries (reply_id, channel, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)`, replyID, channel, ReplyPending, ms(at))
	if err != nil {
		return fmt.Errorf("insert delivery of reply %s by %s: %w", replyID, channel, err)
	}
	return nil
}

const replyDeliveryColumns = `reply_id, channel, status, attempts, last_error, next_attempt_at, artefact, created_at, updated_at`

func scanReplyDelivery(scan func(...any) error) (ReplyDelivery, error) {
	var d ReplyDelivery
	var next, created, updated int64
	if err := scan(&d.ReplyID, &d.Channel, &d.Status, &d.Attempts, &d.LastError, &next, &d.Artefact, &created, &updated); err != nil {
		return ReplyDelivery{}, err
	}
	if next != 0 {
		d.NextAttemptAt = fromMS(next)
	}
	d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
	return d, nil
}

// ReadReplyDelivery loads a reply's delivery on one channel through a stage's queue
// transaction (see ReadDelivery).
func ReadReplyDelivery(ctx context.Context, q wmsql.ContextExecutor, replyID, channel string) (ReplyDelivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+replyDeliveryColumns+` FROM reply_deliveries WHERE reply_id = $1 AND channel = $2`,
		replyID, channel)
	if err != nil {
		return ReplyDelivery{}, fmt.Errorf("read delivery of reply %s by %s: %w", replyID, channel, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if e, ok := rows.(interface{ Err() error }); ok && e.Err() != nil {
			return ReplyDelivery{}, fmt.Errorf("read delivery of reply %s by %s: %w", replyID, channel, e.Err())
		}
		return ReplyDelivery{}, ErrNotFound
	}
	d, err := scanReplyDelivery(rows.Scan)
	if err != nil {
		return ReplyDelivery{}, fmt.Errorf("read delivery of reply %s by %s: %w", replyID, channel, err)
	}
	return d, nil
}

// UpdateReplyDelivery records an attempt's outcome, only over the pending state with the
// attempts the caller read (see UpdateDelivery), and reports whether it saved.
func UpdateReplyDelivery(ctx context.Context, ex Execer, d ReplyDelivery, readAttempts int) (bool, error) {
	var next int64
	if !d.NextAttemptAt.IsZero() {
		next = ms(d.NextAttemptAt)
	}
	res, err := ex.ExecContext(ctx, `UPDATE reply_deliveries SET status = $1, attempts = $2, last_error = $3, next_attempt_at = $4,
		artefact = $5, updated_at = $6 WHERE reply_id = $7 AND channel = $8 AND status = $9 AND attempts = $10`,
		d.Status, d.Attempts, d.LastError, next, d.Artefact, ms(d.UpdatedAt), d.ReplyID, d.Channel, ReplyPending, readAttempts)
	if err != nil {
		return false, fmt.Errorf("update delivery of reply %s by %s: %w", d.ReplyID, d.Channel, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update delivery of reply %s by %s: %w", d.ReplyID, d.Channel, err)
	}
	return n == 1, nil
}

// ReplyDeliveries lists a reply's deliveries by channel.
func (s *Store) ReplyDeliveries(ctx context.Context, replyID string) ([]ReplyDelivery, error) {
	return s.queryReplyDeliveries(ctx, `SELECT `+replyDeliveryColumns+` FROM reply_deliveries WHERE reply_id = $1 ORDER BY channel`, replyID)
}

// ReplyDeliveriesByStatus lists reply deliveries in a status (e.g. dead), oldest change first,
// at most limit.
func (s *Store) ReplyDeliveriesByStatus(ctx context.Context, status string, limit int) ([]ReplyDelivery, error) {
	return s.queryReplyDeliveries(ctx, `SELECT `+replyDeliveryColumns+` FROM reply_deliveries WHERE status = $1
		ORDER BY updated_at, reply_id, channel LIMIT $2`, status, limit)
}

func (s *Store) queryReplyDeliveries(ctx context.Context, query string, args ...any) ([]ReplyDelivery, error) {
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read reply deliveries: %w", err)
	}
	defer rows.Close()
	var out []ReplyDelivery
	for rows.Next() {
		d, err := scanReplyDelivery(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("read reply deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ReplayReplyDelivery sets a dead reply delivery pending again with fresh attempts, counting
// attempts and age from now, and reports whether it was dead (the caller queues it in the same
// transaction).
func ReplayReplyDelivery(ctx context.Context, ex Execer, replyID, channel string, at time.Time) (bool, error) {
	res, err := ex.ExecContext(ctx, `UPDATE reply_deliveries SET status = $1, attempts = 0, next_attempt_at = 0, created_at = $2,
		updated_at = $2 WHERE reply_id = $3 AND channel = $4 AND status = $5`, ReplyPending, ms(at), replyID, channel, ReplyDead)
	if err != nil {
		return false, fmt.Errorf("replay reply %s by %s: %w", replyID, channel, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replay reply %s by %s: %w", replyID, channel, err)
	}
	return n == 1, nil
}

// FileReply keeps a reply that could not be taken, for operators.
func FileReply(ctx context.Context, ex Execer, f FiledReply) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO filed_replies (received_at, via, source, origin, outcome, detail, names, content)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ms(f.ReceivedAt), f.Via, f.Source, f.Origin, f.Outcome, f.Detail, f.Names, f.Content)
	if err != nil {
		return fmt.Errorf("file reply (%s): %w", f.Outcome, err)
	}
	return nil
}

// FiledReplies lists filed replies, newest first, of one outcome ("" for all), at most limit.
func (s *Store) FiledReplies(ctx context.Context, outcome string, limit int) ([]FiledReply, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, received_at, via, source, origin, outcome, detail, names, content FROM filed_replies
		WHERE CAST($1 AS TEXT) = '' OR outcome = $1 ORDER BY id DESC LIMIT $2`, outcome, limit)
	if err != nil {
		return nil, fmt.Errorf("read filed replies: %w", err)
	}
	defer rows.Close()
	var out []FiledReply
	for rows.Next() {
		var f FiledReply
		var at int64
		if err := rows.Scan(&f.ID, &at, &f.Via, &f.Source, &f.Origin, &f.Outcome, &f.Detail, &f.Names, &f.Content); err != nil {
			return nil, fmt.Errorf("read filed replies: %w", err)
		}
		f.ReceivedAt = fromMS(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// FiledReply loads one filed reply with its content.
func (s *Store) FiledReply(ctx context.Context, id int64) (FiledReply, error) {
	var f FiledReply
	var at int64
	err := s.DB.QueryRowContext(ctx, `SELECT id, received_at, via, source, origin, outcome, detail, names, content FROM filed_replies
		WHERE id = $1`, id).Scan(&f.ID, &at, &f.Via, &f.Source, &f.Origin, &f.Outcome, &f.Detail, &f.Names, &f.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return FiledReply{}, ErrNotFound
	}
	if err != nil {
		return FiledReply{}, fmt.Errorf("read filed reply %d: %w", id, err)
	}
	f.ReceivedAt = fromMS(at)
	return f, nil
}

// PurgeFiledReplies deletes the content of replies filed before the cutoff, and their details
// (which may quote it: a schema's problem names values), and reports how many it cleared. What
// came when, from whom, naming what, with which outcome stays.
func PurgeFiledReplies(ctx context.Context, ex Execer, before time.Time) (int, error) {
	res, err := ex.ExecContext(ctx, `UPDATE filed_replies SET content = NULL, detail = '`+Redacted+`'
		WHERE received_at < $1 AND (content IS NOT NULL OR (detail != '' AND detail != '`+Redacted+`'))`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("purge filed replies: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// HasDelivery tells whether a submission was routed to a destination (it has a delivery there,
// whatever its state): only such a destination may answer it.
func (s *Store) HasDelivery(ctx context.Context, submissionID, destination string) (bool, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE submission_id = $1 AND destination = $2`,
		submissionID, destination).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up delivery of %s to %s: %w", submissionID, destination, err)
	}
	return n > 0, nil
}

// ErrDuplicate is returned when a unique key is taken.
var ErrDuplicate = errors.New("duplicate")

// isUniqueViolation tells whether err is a unique constraint failing, on either store.
func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
