package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"hash"
	"io"
	"slices"
	"strings"
	"sync"
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
	// PurgedAt is when retention deleted the personal data (zero: not purged).
	PurgedAt time.Time
	// Channel is how the submission came: ChannelPortal or ChannelFITConnect.
	Channel string
	// DataType is the media type of Data: application/json (default) or application/xml.
	DataType string
	// TrustLevel is the level of assurance of the applicant's identification (trust), "" if
	// none was reported; AccountType is person, organisation or "".
	TrustLevel, AccountType string
	// Meta is what the channel says about the submission besides the data, as a JSON object
	// (FIT-Connect: case, payment, reply channel…). Personal: purged with the data.
	Meta []byte
}

// ChannelMeta is what the channel said besides the data, as mappings see it: FIT-Connect's and
// XTA's metadata from Meta (nil when absent or unreadable).
func (s Submission) ChannelMeta() (fitConnect, xta map[string]any) {
	if len(s.Meta) == 0 {
		return nil, nil
	}
	var meta struct {
		FitConnect map[string]any `json:"fitconnect"`
		XTA        map[string]any `json:"xta"`
	}
	if err := json.Unmarshal(s.Meta, &meta); err != nil {
		return nil, nil
	}
	return meta.FitConnect, meta.XTA
}

// Channels a submission comes by.
const (
	ChannelPortal     = "portal"     // a portal's POST to the HTTP API
	ChannelFITConnect = "fitconnect" // fetched from FIT-Connect
)

// JSONData is the default data type.
const JSONData = "application/json"

// Attachment origins.
const (
	OriginPortal    = "portal"    // handed in by the portal
	OriginGenerated = "generated" // made by amtsbote: the readable application and its data file
)

// Attachment is a file of a submission: handed in with it, or generated from it.
type Attachment struct {
	Seq         int
	Filename    string // as the portal named it
	PackageName string // safe and unique name inside a delivered package
	MediaType   string
	Size        int64
	SHA256      string // hex
	// Origin is OriginPortal (the default) or OriginGenerated.
	Origin string
	// Title is what the portal says the file is (e.g. "Personalausweis, Vorder- und Rückseite").
	Title string
	// Format, FormatVersion and PDFA are what the content shows (fileformat): e.g. pdf, 1.7, 2b.
	Format, FormatVersion, PDFA string
	// Content is read (once) by InsertSubmission, which stores it a chunk at a time and sets
	// Size and, unless given, SHA256 from what it read. Attachments loaded from the store have none: read
	// them with OpenAttachment.
	Content io.Reader
}

// Event is one step in a submission's history.
type Event struct {
	At          time.Time
	Type        string
	Destination string
	Detail      string
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// NewID returns a new submission (or reply) id: a UUID of version 7, whose first 48 bits are
// the time in milliseconds. Nearly every table and index holds rows keyed by the submission id —
// the submissions themselves, their attachments' chunks, events, messages, deliveries, audit
// entries — so ids made one after another land at the end of those B-trees, next to each other:
// a transaction storing several submissions, or the next stage of one, writes the same few
// pages instead of a random page per index (random version-4 ids). The other 74 bits are
// random, so ids stay unguessable.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// InsertSubmission stores a new submission with its attachments and a "received" event. The
// attachments' content is streamed into the store; their Size and SHA256 are set from it.
func InsertSubmission(ctx context.Context, ex Execer, sub Submission, atts []Attachment) error {
	var idem any
	if sub.IdempotencyKey != "" {
		idem = sub.IdempotencyKey
	}
	dataType, meta, channel := sub.DataType, sub.Meta, sub.Channel
	if channel == "" {
		channel = ChannelPortal
	}
	if dataType == "" {
		dataType = JSONData
	}
	if len(meta) == 0 {
		meta = []byte("{}")
	}
	_, err := ex.ExecContext(ctx, `INSERT INTO submissions
		(id, portal, reference, leistung, ags, ars, route, status, data, idempotency_key, request_hash, received_at, updated_at,
		 channel, data_type, trust_level, account_type, meta)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		sub.ID, sub.Portal, sub.Reference, sub.Leistung, sub.AGS, sub.ARS, sub.Route, sub.Status, sub.Data,
		idem, sub.RequestHash, ms(sub.ReceivedAt), ms(sub.ReceivedAt),
		channel, dataType, sub.TrustLevel, sub.AccountType, string(meta))
	if err != nil {
		return fmt.Errorf("insert submission %s: %w", sub.ID, err)
	}
	if err := InsertAttachments(ctx, ex, sub.ID, atts); err != nil {
		return err
	}
	return AddEvent(ctx, ex, sub.ID, Event{At: sub.ReceivedAt, Type: "received"})
}

// InsertAttachments stores files of a submission, streaming their content in chunks and setting
// their Size (and SHA256 unless given) from it.
func InsertAttachments(ctx context.Context, ex Execer, submissionID string, atts []Attachment) error {
	for i := range atts {
		a := &atts[i]
		if err := writeChunks(ctx, ex, submissionID, a); err != nil {
			return err
		}
		origin := a.Origin
		if origin == "" {
			origin = OriginPortal
		}
		_, err := ex.ExecContext(ctx, `INSERT INTO attachments
			(submission_id, seq, filename, package_name, media_type, size, sha256, origin, title, format, format_version, pdfa)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			submissionID, a.Seq, a.Filename, a.PackageName, a.MediaType, a.Size, a.SHA256, origin, a.Title,
			a.Format, a.FormatVersion, a.PDFA)
		if err != nil {
			return fmt.Errorf("insert attachment %d of submission %s: %w", a.Seq, submissionID, err)
		}
	}
	return nil
}

// ChunkSize is how much of an attachment one row holds: the most of it in memory at a time.
const ChunkSize = 1 << 20

var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// writeChunks stores an attachment's content in chunks and sets its Size, and its SHA256 unless
// the caller computed it already (outside the transaction, in parallel with other callers).
func writeChunks(ctx context.Context, ex Execer, submissionID string, a *Attachment) error {
	var h hash.Hash = nopHash{}
	if a.SHA256 == "" {
		h = sha256.New()
	}
	a.Size = 0
	chunk := 0
	write := func(data []byte) error {
		h.Write(data)
		a.Size += int64(len(data))
		if _, err := ex.ExecContext(ctx, `INSERT INTO attachment_chunks (submission_id, seq, chunk, data) VALUES ($1, $2, $3, $4)`,
			submissionID, a.Seq, chunk, data); err != nil {
			return fmt.Errorf("store attachment %d of submission %s: %w", a.Seq, submissionID, err)
		}
		chunk++
		return nil
	}
	if m, ok := a.Content.(*memory); ok {
		// Content in memory (JSON intake) is stored from its own slice: copying it into a
		// buffer first allocated as much again for every file.
		for data := range slices.Chunk(m.rest(), ChunkSize) {
			if err := write(data); err != nil {
				return err
			}
		}
	} else if a.Content != nil {
		buf := chunkBuffers.Get().(*[]byte)
		defer chunkBuffers.Put(buf)
		for {
			n, err := io.ReadFull(a.Content, *buf)
			if n > 0 {
				if err := write((*buf)[:n]); err != nil {
					return err
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return fmt.Errorf("read attachment %d of submission %s: %w", a.Seq, submissionID, err)
			}
		}
	}
	if a.SHA256 == "" {
		a.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return nil
}

// Content is attachment content held in memory, for Attachment.Content: it is stored from its
// slice, without being copied into a buffer first. b must not change until it is stored.
func Content(b []byte) io.Reader { return &memory{Reader: bytes.NewReader(b), b: b} }

type memory struct {
	*bytes.Reader
	b []byte
}

// ContentBytes returns the bytes given to Content, however much of them was read; false for any
// other reader.
func ContentBytes(r io.Reader) ([]byte, bool) {
	if m, ok := r.(*memory); ok {
		return m.b, true
	}
	return nil, false
}

// rest is what has not been read yet; it counts as read now.
func (m *memory) rest() []byte {
	rest := m.b[len(m.b)-m.Len():]
	m.Reset(nil)
	return rest
}

// nopHash stands in when the hash is known.
type nopHash struct{ hash.Hash }

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }

// OpenAttachment streams an attachment's content from the store, one chunk in memory at a time.
// size is the attachment's size as stored (Attachment.Size): a content that ends before it, or
// goes on after it, is an error, never a short file — its chunks were deleted while it was read
// (retention) or the store is damaged.
func (s *Store) OpenAttachment(ctx context.Context, submissionID string, seq int, size int64) io.ReadCloser {
	return &chunkReader{ctx: ctx, q: s.DB, submissionID: submissionID, seq: seq, size: size}
}

type chunkReader struct {
	ctx          context.Context
	q            querier
	submissionID string
	seq, next    int
	size, read   int64
	buf          []byte
	done         bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill reads the next chunk into buf if buf is empty; io.EOF after the last.
func (r *chunkReader) fill() error {
	for len(r.buf) == 0 {
		if r.done {
			if r.read != r.size {
				return fmt.Errorf("attachment %d of submission %s: %d of %d bytes in the store (deleted while read, or damaged)",
					r.seq, r.submissionID, r.read, r.size)
			}
			return io.EOF
		}
		err := r.q.QueryRowContext(r.ctx, `SELECT data FROM attachment_chunks WHERE submission_id = $1 AND seq = $2 AND chunk = $3`,
			r.submissionID, r.seq, r.next).Scan(&r.buf)
		if errors.Is(err, sql.ErrNoRows) {
			r.done, r.buf = true, nil
			continue
		}
		if err != nil {
			return fmt.Errorf("read attachment %d of submission %s: %w", r.seq, r.submissionID, err)
		}
		r.next++
		r.read += int64(len(r.buf))
		// Every chunk but the last is full (writeChunks): a shorter one ends the file without
		// another query.
		r.done = len(r.buf) < ChunkSize || r.read >= r.size
	}
	return nil
}

func (r *chunkReader) Close() error { r.buf, r.done = nil, true; return nil }

// AddEvent appends an event to a submission's history.
func AddEvent(ctx context.Context, ex Execer, submissionID string, e Event) error {
	return AddEvents(ctx, ex, submissionID, e)
}

// AddEvents appends events to a submission's history, in order, with one statement: on
// PostgreSQL each statement is a round trip to the server.
func AddEvents(ctx context.Context, ex Execer, submissionID string, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO events (submission_id, at, type, destination, detail) VALUES `)
	args := make([]any, 0, 1+4*len(events))
	args = append(args, submissionID)
	for i, e := range events {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "($1, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
		args = append(args, ms(e.At), e.Type, e.Destination, e.Detail)
	}
	if _, err := ex.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("record event %s of submission %s: %w", events[0].Type, submissionID, err)
	}
	return nil
}

// SetStatus changes a submission's status.
func SetStatus(ctx context.Context, ex Execer, submissionID, status string, at time.Time) error {
	_, err := ex.ExecContext(ctx, `UPDATE submissions SET status = $1, updated_at = $2 WHERE id = $3`,
		status, ms(at), submissionID)
	if err != nil {
		return fmt.Errorf("set status of submission %s: %w", submissionID, err)
	}
	return nil
}

const submissionColumns = `id, portal, reference, leistung, ags, ars, route, status, data,
	COALESCE(idempotency_key, ''), request_hash, received_at, updated_at, purged_at,
	channel, data_type, trust_level, account_type, meta`

func scanSubmission(row *sql.Row) (Submission, error) { return scanSubmissionFrom(row.Scan) }

// scanSubmissionFrom reads the submissionColumns of one row; sql.ErrNoRows becomes ErrNotFound.
func scanSubmissionFrom(scan func(...any) error) (Submission, error) {
	var s Submission
	var received, updated, purged int64
	var meta string
	err := scan(&s.ID, &s.Portal, &s.Reference, &s.Leistung, &s.AGS, &s.ARS, &s.Route, &s.Status, &s.Data,
		&s.IdempotencyKey, &s.RequestHash, &received, &updated, &purged,
		&s.Channel, &s.DataType, &s.TrustLevel, &s.AccountType, &meta)
	s.Meta = []byte(meta)
	if s.Channel == "" {
		s.Channel = ChannelPortal // stored before channels were recorded
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Submission{}, ErrNotFound
	}
	if err != nil {
		return Submission{}, fmt.Errorf("read submission: %w", err)
	}
	s.ReceivedAt, s.UpdatedAt = fromMS(received), fromMS(updated)
	if purged != 0 {
		s.PurgedAt = fromMS(purged)
	}
	return s, nil
}

// Submission loads one submission.
func (s *Store) Submission(ctx context.Context, id string) (Submission, error) {
	return readSubmission(ctx, s.DB, id)
}

func readSubmission(ctx context.Context, q querier, id string) (Submission, error) {
	return scanSubmission(q.QueryRowContext(ctx, `SELECT `+submissionColumns+` FROM submissions WHERE id = $1`, id))
}

// SubmissionByIdempotencyKey finds the submission a portal created with an Idempotency-Key.
func (s *Store) SubmissionByIdempotencyKey(ctx context.Context, portal, key string) (Submission, error) {
	return scanSubmission(s.DB.QueryRowContext(ctx,
		`SELECT `+submissionColumns+` FROM submissions WHERE portal = $1 AND idempotency_key = $2`, portal, key))
}

// Attachments lists a submission's attachments in order, without content (OpenAttachment).
func (s *Store) Attachments(ctx context.Context, submissionID string) ([]Attachment, error) {
	return readAttachments(ctx, s.DB, submissionID)
}

func readAttachments(ctx context.Context, q querier, submissionID string) ([]Attachment, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, filename, package_name, media_type, size, sha256, origin, title,
			format, format_version, pdfa
		FROM attachments WHERE submission_id = $1 ORDER BY seq`, submissionID)
	if err != nil {
		return nil, fmt.Errorf("read attachments of %s: %w", submissionID, err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.Seq, &a.Filename, &a.PackageName, &a.MediaType, &a.Size, &a.SHA256, &a.Origin, &a.Title,
			&a.Format, &a.FormatVersion, &a.PDFA); err != nil {
			return nil, fmt.Errorf("read attachments of %s: %w", submissionID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Events lists a submission's history, oldest first.
func (s *Store) Events(ctx context.Context, submissionID string) ([]Event, error) {
	return readEvents(ctx, s.DB, submissionID)
}

func readEvents(ctx context.Context, q querier, submissionID string) ([]Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, type, destination, detail FROM events
		WHERE submission_id = $1 ORDER BY id`, submissionID)
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
