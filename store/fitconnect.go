package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// FIT-Connect inbox states.
const (
	// InboxNew: known (from a callback or a poll), not yet fetched and checked.
	InboxNew = "new"
	// InboxDeciding: checked; the decision is stored (accept: the submission is in amtsbote)
	// and waits to be sent, or — accepting after delivery — for the deliveries to succeed.
	InboxDeciding = "deciding"
	// InboxDecided: the delivery service has the decision (or had one already: 409).
	InboxDecided = "decided"
	// InboxGone: the delivery service no longer has the submission (404 when fetching).
	InboxGone = "gone"
)

// FIT-Connect decisions.
const (
	DecisionAccept = "accept"
	DecisionReject = "reject"
)

// InboxEntry is one FIT-Connect submission as amtsbote knows it.
type InboxEntry struct {
	SubmissionID  string // FIT-Connect's submission id
	CaseID        string
	Subscription  string
	DestinationID string
	State         string
	Decision      string // accept, reject or "" (not decided)
	Problems      string // the reject's problems (JSON)
	SETToken      string // the signed decision as sent, resent unchanged until the service has it
	AmtsboteID    string // the amtsbote submission (accepted ones)
	Attempts      int    // failed tries of the current step
	LastError     string
	SeenAt        time.Time
	SubmittedAt   time.Time // when the sender submitted it (its submit-submission event), if known
	DecidedAt     time.Time
	SentAt        time.Time
	UpdatedAt     time.Time
}

const inboxColumns = `submission_id, case_id, subscription, destination_id, state, decision, problems, set_token,
	amtsbote_id, attempts, last_error, seen_at, submitted_at, decided_at, sent_at, updated_at`

// NoteInbox records a FIT-Connect submission amtsbote learnt of, in state new, unless it is
// known already; it reports whether it was new. Several instances and sources may note the same
// submission at once: one of them wins.
func NoteInbox(ctx context.Context, ex Execer, e InboxEntry) (bool, error) {
	res, err := ex.ExecContext(ctx, `INSERT INTO fitconnect_inbox
		(submission_id, case_id, subscription, destination_id, state, seen_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (submission_id) DO NOTHING`,
		e.SubmissionID, e.CaseID, e.Subscription, e.DestinationID, InboxNew, ms(e.SeenAt), ms(e.SeenAt))
	if err != nil {
		return false, fmt.Errorf("note FIT-Connect submission %s: %w", e.SubmissionID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UpdateInbox saves an entry if it is still in state from (so that of two instances handling
// the same submission only one moves it on), and reports whether it did.
func UpdateInbox(ctx context.Context, ex Execer, e InboxEntry, from string) (bool, error) {
	res, err := ex.ExecContext(ctx, `UPDATE fitconnect_inbox SET case_id = $1, state = $2, decision = $3, problems = $4,
			set_token = $5, amtsbote_id = $6, attempts = $7, last_error = $8, submitted_at = $9, decided_at = $10,
			sent_at = $11, updated_at = $12
		WHERE submission_id = $13 AND state = $14`,
		e.CaseID, e.State, e.Decision, e.Problems, e.SETToken, e.AmtsboteID, e.Attempts, e.LastError,
		msOrZero(e.SubmittedAt), msOrZero(e.DecidedAt), msOrZero(e.SentAt), ms(e.UpdatedAt), e.SubmissionID, from)
	if err != nil {
		return false, fmt.Errorf("update FIT-Connect submission %s: %w", e.SubmissionID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ms(t)
}

func fromMSOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMS(v)
}

func scanInbox(scan func(...any) error) (InboxEntry, error) {
	var e InboxEntry
	var seen, submitted, decided, sent, updated int64
	err := scan(&e.SubmissionID, &e.CaseID, &e.Subscription, &e.DestinationID, &e.State, &e.Decision, &e.Problems,
		&e.SETToken, &e.AmtsboteID, &e.Attempts, &e.LastError, &seen, &submitted, &decided, &sent, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return InboxEntry{}, ErrNotFound
	}
	if err != nil {
		return InboxEntry{}, fmt.Errorf("read FIT-Connect inbox: %w", err)
	}
	e.SeenAt, e.UpdatedAt = fromMS(seen), fromMS(updated)
	e.SubmittedAt, e.DecidedAt, e.SentAt = fromMSOrZero(submitted), fromMSOrZero(decided), fromMSOrZero(sent)
	return e, nil
}

// ReadInbox reads an entry inside a transaction (a queue handler's: one whose session was lost
// fails here, before anything is fetched or sent).
func ReadInbox(ctx context.Context, q wmsql.ContextExecutor, submissionID string) (InboxEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+inboxColumns+` FROM fitconnect_inbox WHERE submission_id = $1`, submissionID)
	if err != nil {
		return InboxEntry{}, fmt.Errorf("read FIT-Connect submission %s: %w", submissionID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if e, ok := rows.(interface{ Err() error }); ok && e.Err() != nil {
			return InboxEntry{}, fmt.Errorf("read FIT-Connect submission %s: %w", submissionID, e.Err())
		}
		return InboxEntry{}, ErrNotFound
	}
	return scanInbox(rows.Scan)
}

// InboxEntry reads one entry.
func (s *Store) InboxEntry(ctx context.Context, submissionID string) (InboxEntry, error) {
	return scanInbox(s.DB.QueryRowContext(ctx, `SELECT `+inboxColumns+` FROM fitconnect_inbox WHERE submission_id = $1`,
		submissionID).Scan)
}

// InboxFilter selects entries; zero values select everything.
type InboxFilter struct {
	Subscription string
	CaseID       string
	// Open selects the entries whose decision the delivery service does not have yet.
	Open bool
}

// Inbox lists entries, oldest first.
func (s *Store) Inbox(ctx context.Context, f InboxFilter) ([]InboxEntry, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+inboxColumns+` FROM fitconnect_inbox
		WHERE (CAST($1 AS TEXT) = '' OR subscription = $1) AND (CAST($2 AS TEXT) = '' OR case_id = $2)
			AND ($3 = 0 OR state IN ('`+InboxNew+`', '`+InboxDeciding+`'))
		ORDER BY seen_at, submission_id`, f.Subscription, f.CaseID, boolInt(f.Open))
	if err != nil {
		return nil, fmt.Errorf("list FIT-Connect inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxEntry
	for rows.Next() {
		e, err := scanInbox(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PurgeInbox clears the problems of FIT-Connect decisions the delivery service has had since
// before the cutoff (their details may quote the data) and reports how many it cleared. The
// rest — ids, states, times, the signed decision — stays as the record of what was decided.
func PurgeInbox(ctx context.Context, ex Execer, before time.Time) (int, error) {
	res, err := ex.ExecContext(ctx, `UPDATE fitconnect_inbox SET problems = '`+Redacted+`'
		WHERE state IN ('`+InboxDecided+`', '`+InboxGone+`') AND updated_at < $1 AND problems != '' AND problems != '`+Redacted+`'`,
		ms(before))
	if err != nil {
		return 0, fmt.Errorf("purge FIT-Connect problems: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SubmissionsByCaseID lists the amtsbote submissions accepted from a FIT-Connect case (its
// caseId), oldest first: a reply of a Fachverfahren may name the original by the case.
func (s *Store) SubmissionsByCaseID(ctx context.Context, caseID string) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT amtsbote_id FROM fitconnect_inbox WHERE case_id = $1 AND amtsbote_id != ''
		ORDER BY seen_at, submission_id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("find submissions of FIT-Connect case %s: %w", caseID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find submissions of FIT-Connect case %s: %w", caseID, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
