package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// querier runs reads: the pool, or the connection of a Reads.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Reads are several reads that see one state of the store, for a handler that reads a
// submission's parts one after the other (a delivery: the submission, its message, its
// attachments; a status request: the submission, its history and its deliveries).
//
// On SQLite they run in one read transaction on one connection: each read outside a
// transaction checks a connection out of the pool and starts a read transaction of its own
// (the write-ahead log's index, a read lock, and a page cache dropped whenever another
// connection has written since). On PostgreSQL each read is a round trip either way, so they
// run through the pool.
//
// End must be called, and soon: an open read transaction keeps checkpoints from starting the
// write-ahead log over.
type Reads struct {
	q    querier
	conn *sql.Conn // SQLite: the connection that holds the read transaction
}

// BeginReads starts reads that see one state of the store.
func (s *Store) BeginReads(ctx context.Context) (*Reads, error) {
	if s.Driver != SQLite {
		return &Reads{q: s.DB}, nil
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin reads: %w", err)
	}
	// A plain BEGIN: the pool's transactions begin IMMEDIATE (the DSN's _txlock), which would
	// take the write lock. A deferred one takes a read snapshot at its first read.
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		discard(conn)
		return nil, fmt.Errorf("begin reads: %w", err)
	}
	return &Reads{q: conn, conn: conn}, nil
}

// End ends the reads. A connection whose transaction cannot be ended is closed, never put back
// into the pool inside a transaction.
func (r *Reads) End() error {
	if r.conn == nil {
		return nil
	}
	conn := r.conn
	r.conn, r.q = nil, nil
	if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		discard(conn)
		return fmt.Errorf("end reads: %w", err)
	}
	return conn.Close()
}

// discard closes conn's driver connection instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// Submission loads one submission.
func (r *Reads) Submission(ctx context.Context, id string) (Submission, error) {
	return readSubmission(ctx, r.q, id)
}

// Message loads the message mapped for a destination.
func (r *Reads) Message(ctx context.Context, submissionID, destination string) (Message, error) {
	return readMessage(ctx, r.q, submissionID, destination)
}

// Deliveries lists a submission's deliveries, by destination.
func (r *Reads) Deliveries(ctx context.Context, submissionID string) ([]Delivery, error) {
	return readDeliveries(ctx, r.q, submissionID)
}

// Events lists a submission's history, oldest first.
func (r *Reads) Events(ctx context.Context, submissionID string) ([]Event, error) {
	return readEvents(ctx, r.q, submissionID)
}

// Attachments lists a submission's attachments in order, without content.
func (r *Reads) Attachments(ctx context.Context, submissionID string) ([]Attachment, error) {
	return readAttachments(ctx, r.q, submissionID)
}

// AttachmentContent reads an attachment's whole content (it is size bytes long): for files
// small enough to hold in memory; larger ones are streamed with OpenAttachment. Content that is
// not size bytes long (purged, or a damaged store) is an error.
func (r *Reads) AttachmentContent(ctx context.Context, submissionID string, seq int, size int64) ([]byte, error) {
	cr := &chunkReader{ctx: ctx, q: r.q, submissionID: submissionID, seq: seq, size: size}
	var out []byte
	for {
		err := cr.fill()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = cr.buf // the read's own copy: a one-chunk file is not copied again
		} else {
			out = append(out, cr.buf...)
		}
		cr.buf = nil
	}
}
