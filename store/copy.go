package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store/queue"
)

// copiedTables are the store's tables in an order that satisfies the foreign keys, with the
// columns both backends have. Console sessions are not copied: a move signs everyone out.
var copiedTables = []struct {
	name, columns, serial string
}{
	{"submissions", "id, portal, reference, leistung, ags, ars, route, status, data, idempotency_key, request_hash, received_at, updated_at, purged_at, channel, data_type, trust_level, account_type, meta", ""},
	{"attachments", "submission_id, seq, filename, package_name, media_type, size, sha256, origin, title, format, format_version, pdfa", ""},
	{"attachment_chunks", "submission_id, seq, chunk, data", ""},
	{"events", "id, submission_id, at, type, destination, detail", "id"},
	{"messages", "submission_id, destination, message_id, message_type, schema_set, created_at, xml, media_type", ""},
	{"deliveries", "submission_id, destination, status, attempts, last_error, next_attempt_at, artefact, created_at, updated_at, remote_id", ""},
	{"receipts", "id, file, received_at, kind, message_id, submission_id, destination, outcome, detail, content", "id"},
	{"audit", "id, at, actor, action, subject, detail", "id"},
	{"fitconnect_inbox", "submission_id, case_id, subscription, destination_id, state, decision, problems, set_token, amtsbote_id, attempts, last_error, seen_at, submitted_at, decided_at, sent_at, updated_at", ""},
	{"replies", "id, submission_id, source, via, external_id, kind, status, subject, text, message_type, message, received_at, purged_at", ""},
	{"reply_documents", "reply_id, seq, name, media_type, size, sha256", ""},
	{"reply_deliveries", "reply_id, channel, status, attempts, last_error, next_attempt_at, artefact, created_at, updated_at", ""},
	{"filed_replies", "id, received_at, via, source, origin, outcome, detail, names, content", "id"},
}

// queueColumns are the queue table columns both backends have.
const queueColumns = `"offset", uuid, payload, metadata, not_before, created_at`

// CopyReport says how many rows of each table a Copy moved.
type CopyReport struct {
	Tables []string
	Rows   map[string]int64
}

// Copy moves everything in from — submissions, attachments, history, messages, deliveries,
// receipts, audit trail and every queue with its schedule — into the empty store to, in one
// transaction of to: it is complete or not there at all. Queue rows keep their ids and due
// times, so pending work and backoff schedules carry over. No process may use from meanwhile
// (for SQLite, Open's lock guarantees it).
func Copy(ctx context.Context, from, to *Store, progress func(table string, rows int64)) (CopyReport, error) {
	report := CopyReport{Rows: map[string]int64{}}
	topics, err := from.queueTopics(ctx)
	if err != nil {
		return report, err
	}
	if n, err := rowCount(ctx, to.DB, "submissions"); err != nil || n > 0 {
		return report, fmt.Errorf("the target store is not empty (%d submissions): copy only into a new store", n)
	}
	tx, err := to.DB.BeginTx(ctx, nil)
	if err != nil {
		return report, err
	}
	defer tx.Rollback()
	if to.Driver == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(clusterLockID)); err != nil {
			return report, err
		}
		// A trigger left by an earlier start must not announce copied submissions to portals again.
		if _, err := tx.ExecContext(ctx, `DO $$ BEGIN
			IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'submission_status_change') THEN
				ALTER TABLE submissions DISABLE TRIGGER submission_status_change;
			END IF; END $$`); err != nil {
			return report, fmt.Errorf("pause status trigger: %w", err)
		}
	} else if _, err := tx.ExecContext(ctx, `DROP TRIGGER IF EXISTS submission_created_callback`); err != nil {
		return report, err // PrepareQueues creates it again at the next start
	}
	if err := to.createQueueTables(ctx, tx, topics); err != nil {
		return report, err
	}
	type job struct{ table, columns, serial string }
	var jobs []job
	for _, t := range copiedTables {
		jobs = append(jobs, job{t.name, t.columns, t.serial})
	}
	for _, topic := range topics {
		jobs = append(jobs, job{strings.Trim(queue.Table(topic), `"`), queueColumns, "offset"})
	}
	for _, j := range jobs {
		if n, err := rowCount(ctx, tx, j.table); err != nil || n > 0 {
			return report, fmt.Errorf("the target store's table %s is not empty (%d rows): copy only into a new store", j.table, n)
		}
		n, err := copyTable(ctx, from, tx, j.table, j.columns)
		if err != nil {
			return report, err
		}
		if j.serial != "" && to.Driver == Postgres && n > 0 {
			q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), (SELECT max("%s") FROM "%s"))`, `"`+j.table+`"`, j.serial, j.serial, j.table)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return report, fmt.Errorf("advance the ids of %s: %w", j.table, err)
			}
		}
		report.Tables = append(report.Tables, j.table)
		report.Rows[j.table] = n
		if progress != nil {
			progress(j.table, n)
		}
	}
	if to.Driver == Postgres {
		if _, err := tx.ExecContext(ctx, `DO $$ BEGIN
			IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'submission_status_change') THEN
				ALTER TABLE submissions ENABLE TRIGGER submission_status_change;
			END IF; END $$`); err != nil {
			return report, fmt.Errorf("resume status trigger: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return report, fmt.Errorf("commit the copy: %w", err)
	}
	// Check: every table has as many rows as the source.
	for _, table := range report.Tables {
		n, err := rowCount(ctx, to.DB, table)
		if err != nil {
			return report, err
		}
		if n != report.Rows[table] {
			return report, fmt.Errorf("table %s has %d rows after the copy, the source %d", table, n, report.Rows[table])
		}
	}
	return report, nil
}

func copyTable(ctx context.Context, from *Store, tx *sql.Tx, table, columns string) (int64, error) {
	ncol := len(strings.Split(columns, ","))
	marks := make([]string, ncol)
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	ins, err := tx.PrepareContext(ctx, fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES (%s)`, table, columns, strings.Join(marks, ", ")))
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", table, err)
	}
	defer ins.Close()
	rows, err := from.DB.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM "%s"`, columns, table))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	vals := make([]any, ncol)
	ptrs := make([]any, ncol)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read %s: %w", table, err)
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, fmt.Errorf("copy row %d of %s: %w", n+1, table, err)
		}
		n++
	}
	return n, rows.Err()
}

// queueTopics lists the topics that have a queue table.
func (s *Store) queueTopics(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'watermill\_%' ESCAPE '\'`
	if s.Driver == Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'watermill\_%' ESCAPE '\'`
	}
	rows, err := s.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	defer rows.Close()
	var topics []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		topics = append(topics, strings.TrimPrefix(name, "watermill_"))
	}
	slices.Sort(topics)
	return topics, rows.Err()
}

// rowCount counts a table's rows through db (the pool or a transaction).
func rowCount(ctx context.Context, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM "%s"`, table)).Scan(&n)
	return n, err
}

// createQueueTables creates the missing queue tables of topics in tx.
func (s *Store) createQueueTables(ctx context.Context, tx *sql.Tx, topics []string) error {
	schema := s.Queues(nil).Schema
	for _, topic := range topics {
		if s.Driver == Postgres {
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, queue.Table(topic)).Scan(&exists); err != nil {
				return fmt.Errorf("look up queue %s: %w", topic, err)
			}
			if exists {
				continue
			}
		}
		qs, err := schema.SchemaInitializingQueries(wmsql.SchemaInitializingQueriesParams{Topic: topic})
		if err != nil {
			return err
		}
		for _, q := range qs {
			if _, err := tx.ExecContext(ctx, q.Query, q.Args...); err != nil {
				return fmt.Errorf("create queue %s: %w", topic, err)
			}
		}
	}
	return nil
}
