package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store/queue"
)

// Submission statuses of a route that requires payment (docs/payment.md).
const (
	// StatusAwaitingPayment: held until its payment is complete; checked again on schedule or
	// when the payment platform notifies.
	StatusAwaitingPayment = "awaiting_payment"
	// StatusPaymentFailed: the payment failed, the transaction is unknown, or it was not
	// completed in time. Final: nothing is delivered.
	StatusPaymentFailed = "payment_failed"
	// StatusPaymentCanceled: the payer cancelled the payment. Final.
	StatusPaymentCanceled = "payment_canceled"
)

// PaymentHold is what amtsbote knows of a submission's payment while (and after) it held the
// submission for it.
type PaymentHold struct {
	SubmissionID  string
	Provider      string
	TransactionID string
	// Status is the transaction's state at the last answer (INITIAL, PAYED…), "" before any.
	Status string
	// Checks counts the reads of the transaction, answered or not.
	Checks int
	// Wakeups counts the platform's notifications: one that arrives during a check makes the
	// next check due at once.
	Wakeups int
	// LastError is why the last read failed, "" if it was answered.
	LastError string
	// QueueMessage is the queue message that checks the hold next: any other one for the
	// submission is a duplicate.
	QueueMessage string
	HeldSince    time.Time
	NextCheckAt  time.Time
	UpdatedAt    time.Time
}

// Payment holds: one row per submission of a route that requires payment, from its first check
// on. The index finds the submissions a platform's notification is about; the unique one lets a
// paid transaction pay for one submission only, whatever runs at the same time.
const migratePaymentHolds = `CREATE TABLE payment_holds (
		submission_id TEXT PRIMARY KEY,
		provider TEXT NOT NULL,
		transaction_id TEXT NOT NULL,
		status TEXT NOT NULL DEFAULT '',
		checks INTEGER NOT NULL DEFAULT 0,
		wakeups INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		queue_message TEXT NOT NULL DEFAULT '',
		held_since BIGINT NOT NULL,
		next_check_at BIGINT NOT NULL DEFAULT 0,
		updated_at BIGINT NOT NULL
	);
	CREATE INDEX payment_holds_transaction ON payment_holds (provider, transaction_id);
	CREATE UNIQUE INDEX payment_holds_paid ON payment_holds (provider, transaction_id) WHERE status = 'PAYED';`

// PaymentHold reads a submission's hold; ErrNotFound before its first check.
func (s *Store) PaymentHold(ctx context.Context, submissionID string) (PaymentHold, error) {
	return ReadPaymentHold(ctx, s.DB, submissionID)
}

// ReadPaymentHold reads a submission's hold through q (a transaction, or the pool).
func ReadPaymentHold(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, submissionID string) (PaymentHold, error) {
	var h PaymentHold
	var held, next, updated int64
	err := q.QueryRowContext(ctx, `SELECT submission_id, provider, transaction_id, status, checks, wakeups, last_error,
			queue_message, held_since, next_check_at, updated_at
		FROM payment_holds WHERE submission_id = $1`, submissionID).
		Scan(&h.SubmissionID, &h.Provider, &h.TransactionID, &h.Status, &h.Checks, &h.Wakeups, &h.LastError,
			&h.QueueMessage, &held, &next, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return PaymentHold{}, ErrNotFound
	}
	if err != nil {
		return PaymentHold{}, fmt.Errorf("read payment hold of %s: %w", submissionID, err)
	}
	h.HeldSince, h.NextCheckAt, h.UpdatedAt = fromMS(held), fromMSOrZero(next), fromMS(updated)
	return h, nil
}

// SavePaymentHold records a check of a hold (creating it at the first), keeping when it began
// and the notifications counted, and returns the hold's wakeups as stored. The write locks the
// row: a notification being recorded at the same moment is waited for and counted, so that a
// check that read the transaction before the payment completed sees it and checks again at
// once.
func SavePaymentHold(ctx context.Context, q wmsql.ContextExecutor, h PaymentHold) (int, error) {
	// A write first: a queue transaction reads through the pool until its first write (SQLite's
	// lazy transaction), and the read below must see this transaction's row.
	if _, err := q.ExecContext(ctx, `INSERT INTO payment_holds
			(submission_id, provider, transaction_id, status, checks, last_error, queue_message, held_since, next_check_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (submission_id) DO UPDATE SET provider = excluded.provider, transaction_id = excluded.transaction_id,
			status = excluded.status, checks = excluded.checks, last_error = excluded.last_error,
			queue_message = excluded.queue_message, next_check_at = excluded.next_check_at, updated_at = excluded.updated_at`,
		h.SubmissionID, h.Provider, h.TransactionID, h.Status, h.Checks, h.LastError, h.QueueMessage,
		ms(h.HeldSince), msOrZero(h.NextCheckAt), ms(h.UpdatedAt)); err != nil {
		return 0, fmt.Errorf("save payment hold of %s: %w", h.SubmissionID, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT wakeups FROM payment_holds WHERE submission_id = $1`, h.SubmissionID)
	if err != nil {
		return 0, fmt.Errorf("save payment hold of %s: %w", h.SubmissionID, err)
	}
	defer rows.Close()
	var wakeups int
	if !rows.Next() {
		if err := rowsErr(rows); err != nil {
			return 0, fmt.Errorf("save payment hold of %s: %w", h.SubmissionID, err)
		}
		return 0, fmt.Errorf("save payment hold of %s: the row is gone", h.SubmissionID)
	}
	if err := rows.Scan(&wakeups); err != nil {
		return 0, fmt.Errorf("save payment hold of %s: %w", h.SubmissionID, err)
	}
	return wakeups, rowsErr(rows)
}

// PaidFor returns the submission other than submissionID a transaction has paid for, "" if none:
// a payment counts for one submission.
func PaidFor(ctx context.Context, q wmsql.ContextExecutor, provider, transactionID, submissionID string) (string, error) {
	rows, err := q.QueryContext(ctx, `SELECT submission_id FROM payment_holds
		WHERE provider = $1 AND transaction_id = $2 AND status = 'PAYED' AND submission_id <> $3`, provider, transactionID, submissionID)
	if err != nil {
		return "", fmt.Errorf("look up what transaction %s paid for: %w", transactionID, err)
	}
	defer rows.Close()
	var other string
	if rows.Next() {
		if err := rows.Scan(&other); err != nil {
			return "", fmt.Errorf("look up what transaction %s paid for: %w", transactionID, err)
		}
	}
	return other, rowsErr(rows)
}

// WakePaymentHolds makes the submissions held for a transaction be checked now: it counts the
// notification on their holds and moves their queue messages on topic (the process stage's)
// forward to now, in one durable transaction. It reports how many submissions wait for the
// transaction.
//
// A queue message being handled right now is skipped, never waited for (a platform's
// notification is answered at once): its handler then finds the notification counted when it
// saves the hold, and checks again at once.
func (s *Store) WakePaymentHolds(ctx context.Context, topic, provider, transactionID string, now time.Time) (int, error) {
	woken := 0
	err := s.InTx(ctx, func(tx wmsql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE payment_holds SET wakeups = wakeups + 1, updated_at = $1
			WHERE provider = $2 AND transaction_id = $3
				AND submission_id IN (SELECT id FROM submissions WHERE status = $4)
			RETURNING submission_id`, ms(now), provider, transactionID, StatusAwaitingPayment)
		if err != nil {
			return fmt.Errorf("note payment notification: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("note payment notification: %w", err)
			}
			ids = append(ids, id)
		}
		err = rowsErr(rows)
		rows.Close()
		if err != nil {
			return fmt.Errorf("note payment notification: %w", err)
		}
		skipLocked := ""
		if s.Driver == Postgres {
			skipLocked = " FOR UPDATE SKIP LOCKED"
		}
		table := queue.Table(topic)
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET not_before = $1
				WHERE "offset" IN (SELECT "offset" FROM `+table+` WHERE payload = $2 AND not_before > $1`+skipLocked+`)`,
				ms(now), []byte(id)); err != nil {
				return fmt.Errorf("schedule the payment check of %s now: %w", id, err)
			}
		}
		woken = len(ids)
		return nil
	})
	return woken, err
}

// rowsErr is the error that ended a row iteration, if the rows can tell.
func rowsErr(rows wmsql.Rows) error {
	if e, ok := rows.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// PaymentHeld is how many submissions wait for their payment, and since when the oldest, per
// provider.
type PaymentHeld struct {
	Provider string
	Count    int
	Oldest   time.Time
}

// PaymentsHeld lists the submissions awaiting payment by provider.
func (s *Store) PaymentsHeld(ctx context.Context) ([]PaymentHeld, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT h.provider, count(*), min(h.held_since) FROM payment_holds h
		JOIN submissions s ON s.id = h.submission_id WHERE s.status = $1 GROUP BY h.provider ORDER BY h.provider`,
		StatusAwaitingPayment)
	if err != nil {
		return nil, fmt.Errorf("count held submissions: %w", err)
	}
	defer rows.Close()
	var out []PaymentHeld
	for rows.Next() {
		var h PaymentHeld
		var oldest int64
		if err := rows.Scan(&h.Provider, &h.Count, &oldest); err != nil {
			return nil, fmt.Errorf("count held submissions: %w", err)
		}
		h.Oldest = fromMS(oldest)
		out = append(out, h)
	}
	return out, rows.Err()
}
