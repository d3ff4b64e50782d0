package store

import (
	"context"
	"fmt"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// ChannelNone is the pseudo channel of a reply that no channel reaches: its delivery is
// recorded dead on it, so that operators see the reply among the dead ones.
const ChannelNone = "none"

// readOne runs a query for one row through a stage's queue transaction and scans it with scan;
// no row is ErrNotFound.
func readOne(ctx context.Context, q wmsql.ContextExecutor, what, query string, scan func(func(...any) error) error, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if e, ok := rows.(interface{ Err() error }); ok && e.Err() != nil {
			return fmt.Errorf("read %s: %w", what, e.Err())
		}
		return ErrNotFound
	}
	if err := scan(rows.Scan); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// ReadReply loads a reply through a stage's queue transaction (see ReadDelivery).
func ReadReply(ctx context.Context, q wmsql.ContextExecutor, id string) (Reply, error) {
	var r Reply
	err := readOne(ctx, q, "reply "+id, `SELECT `+replyColumns+` FROM replies WHERE id = $1`, func(scan func(...any) error) (err error) {
		r, err = scanReply(scan)
		return err
	}, id)
	return r, err
}

// ReadSubmission loads a submission through a stage's queue transaction.
func ReadSubmission(ctx context.Context, q wmsql.ContextExecutor, id string) (Submission, error) {
	var s Submission
	err := readOne(ctx, q, "submission "+id, `SELECT `+submissionColumns+` FROM submissions WHERE id = $1`, func(scan func(...any) error) (err error) {
		s, err = scanSubmissionFrom(scan)
		return err
	}, id)
	return s, err
}

// ReadReplyDeliveries lists a reply's deliveries through a stage's queue transaction.
func ReadReplyDeliveries(ctx context.Context, q wmsql.ContextExecutor, replyID string) ([]ReplyDelivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+replyDeliveryColumns+` FROM reply_deliveries WHERE reply_id = $1 ORDER BY channel`, replyID)
	if err != nil {
		return nil, fmt.Errorf("read deliveries of reply %s: %w", replyID, err)
	}
	defer rows.Close()
	var out []ReplyDelivery
	for rows.Next() {
		d, err := scanReplyDelivery(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("read deliveries of reply %s: %w", replyID, err)
		}
		out = append(out, d)
	}
	if e, ok := rows.(interface{ Err() error }); ok && e.Err() != nil {
		return nil, fmt.Errorf("read deliveries of reply %s: %w", replyID, e.Err())
	}
	return out, nil
}

// DeadReply is a reply's delivery on one channel that gave up, with what operators need to
// judge and replay it.
type DeadReply struct {
	ReplyDelivery
	SubmissionID string
	Kind         string
	Source       string
	Portal       string
	Reference    string
	Route        string
}

// DeadReplies lists dead reply deliveries, oldest first; channel "" lists all.
func (s *Store) DeadReplies(ctx context.Context, channel string) ([]DeadReply, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT d.reply_id, d.channel, d.status, d.attempts, d.last_error, d.next_attempt_at,
			d.artefact, d.created_at, d.updated_at, r.submission_id, r.kind, r.source, s.portal, s.reference, s.route
		FROM reply_deliveries d JOIN replies r ON r.id = d.reply_id JOIN submissions s ON s.id = r.submission_id
		WHERE d.status = $1 AND (CAST($2 AS TEXT) = '' OR d.channel = $2)
		ORDER BY d.updated_at, d.reply_id, d.channel`, ReplyDead, channel)
	if err != nil {
		return nil, fmt.Errorf("list dead replies: %w", err)
	}
	defer rows.Close()
	var out []DeadReply
	for rows.Next() {
		var dr DeadReply
		d, err := scanReplyDelivery(func(dest ...any) error {
			return rows.Scan(append(dest, &dr.SubmissionID, &dr.Kind, &dr.Source, &dr.Portal, &dr.Reference, &dr.Route)...)
		})
		if err != nil {
			return nil, fmt.Errorf("list dead replies: %w", err)
		}
		dr.ReplyDelivery = d
		out = append(out, dr)
	}
	return out, rows.Err()
}

// SubmissionReplyDeliveries lists the deliveries of every reply to a submission, by reply
// (oldest first) and channel.
func (s *Store) SubmissionReplyDeliveries(ctx context.Context, submissionID string) ([]ReplyDelivery, error) {
	return s.queryReplyDeliveries(ctx, `SELECT d.reply_id, d.channel, d.status, d.attempts, d.last_error, d.next_attempt_at,
			d.artefact, d.created_at, d.updated_at
		FROM reply_deliveries d JOIN replies r ON r.id = d.reply_id
		WHERE r.submission_id = $1 ORDER BY r.received_at, r.id, d.channel`, submissionID)
}

// DeleteReplyDelivery removes a reply's pending delivery on one channel and reports whether
// there was one: a replayed ChannelNone delivery, once planning again found channels.
func DeleteReplyDelivery(ctx context.Context, ex Execer, replyID, channel string) (bool, error) {
	res, err := ex.ExecContext(ctx, `DELETE FROM reply_deliveries WHERE reply_id = $1 AND channel = $2 AND status = $3`,
		replyID, channel, ReplyPending)
	if err != nil {
		return false, fmt.Errorf("delete delivery of reply %s by %s: %w", replyID, channel, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
