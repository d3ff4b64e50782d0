package store

import (
	"context"
	"database/sql"
	"fmt"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store/queue"
)

// sqliteMigrations are applied in order; PRAGMA user_version records how many ran. Never edit
// one that has shipped: append a new one (and the same change to postgresMigrations).
var sqliteMigrations = []string{
	`CREATE TABLE submissions (
		id TEXT PRIMARY KEY,
		portal TEXT NOT NULL,
		reference TEXT NOT NULL,
		leistung TEXT NOT NULL,
		ags TEXT NOT NULL,
		route TEXT NOT NULL,
		status TEXT NOT NULL,
		data BLOB NOT NULL,
		idempotency_key TEXT,
		request_hash TEXT NOT NULL,
		received_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE UNIQUE INDEX submissions_idempotency ON submissions (portal, idempotency_key)
		WHERE idempotency_key IS NOT NULL;
	CREATE TABLE attachments (
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		seq INTEGER NOT NULL,
		filename TEXT NOT NULL,
		package_name TEXT NOT NULL,
		media_type TEXT NOT NULL,
		size INTEGER NOT NULL,
		sha256 TEXT NOT NULL,
		content BLOB NOT NULL,
		PRIMARY KEY (submission_id, seq)
	);
	CREATE TABLE events (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		at INTEGER NOT NULL,
		type TEXT NOT NULL,
		destination TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX events_submission ON events (submission_id, id);
	CREATE TABLE messages (
		submission_id TEXT PRIMARY KEY REFERENCES submissions (id),
		message_id TEXT NOT NULL,
		message_type TEXT NOT NULL,
		schema_set TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		xml BLOB NOT NULL
	);
	CREATE TABLE deliveries (
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		destination TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		next_attempt_at INTEGER NOT NULL DEFAULT 0,
		artefact TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (submission_id, destination)
	);`,
	// Fan-out: each destination of a route gets its own message (mapping and schema per target).
	`CREATE TABLE messages_by_destination (
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		destination TEXT NOT NULL,
		message_id TEXT NOT NULL,
		message_type TEXT NOT NULL,
		schema_set TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		xml BLOB NOT NULL,
		PRIMARY KEY (submission_id, destination)
	);
	INSERT INTO messages_by_destination
		SELECT m.submission_id, d.destination, m.message_id, m.message_type, m.schema_set, m.created_at, m.xml
		FROM messages m JOIN deliveries d ON d.submission_id = m.submission_id;
	DROP TABLE messages;
	ALTER TABLE messages_by_destination RENAME TO messages;
	ALTER TABLE submissions ADD COLUMN ars TEXT NOT NULL DEFAULT '';`,
	// Receipts from receiving systems, matched or not: none is ever dropped.
	`CREATE TABLE receipts (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		file TEXT NOT NULL,
		received_at INTEGER NOT NULL,
		kind TEXT NOT NULL,
		message_id TEXT NOT NULL DEFAULT '',
		submission_id TEXT NOT NULL DEFAULT '',
		destination TEXT NOT NULL DEFAULT '',
		outcome TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '',
		content BLOB
	);
	CREATE INDEX messages_message_id ON messages (message_id);`,
	// Retention: personal data is purged, metadata and history stay; the audit trail records
	// who did what.
	`ALTER TABLE submissions ADD COLUMN purged_at INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE audit (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		at INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		subject TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_at ON audit (at);`,
	// Attachments in chunks: a large file is written and read a chunk at a time, never whole.
	`CREATE TABLE attachment_chunks (
		submission_id TEXT NOT NULL,
		seq INTEGER NOT NULL,
		chunk INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (submission_id, seq, chunk)
	);
	INSERT INTO attachment_chunks SELECT submission_id, seq, 0, content FROM attachments WHERE length(content) > 0;
	ALTER TABLE attachments DROP COLUMN content;`,
	// Status changes are queued for portal callbacks only for portals that have a callback URL.
	`CREATE TABLE callback_portals (portal TEXT PRIMARY KEY);
	INSERT INTO callback_portals SELECT DISTINCT portal FROM submissions;
	DROP TRIGGER IF EXISTS submission_created_callback;
	DROP TRIGGER IF EXISTS submission_status_callback;`,
	migrateDocuments,
	migrateChannels,
	migrateStatusIndex,
	migrateReplies("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "BLOB"),
	migratePaymentHolds,
	migrateCaseIndex,
	migrateSearch,
	migrateConsoleSessions,
	migrateReceiptsIndex,
}

// postgresMigrations are applied in order; the table schema_version records how many ran.
// Never edit one that has shipped: append a new one (and the same change to sqliteMigrations).
var postgresMigrations = []string{
	`CREATE TABLE submissions (
		id TEXT PRIMARY KEY,
		portal TEXT NOT NULL,
		reference TEXT NOT NULL,
		leistung TEXT NOT NULL,
		ags TEXT NOT NULL,
		ars TEXT NOT NULL DEFAULT '',
		route TEXT NOT NULL,
		status TEXT NOT NULL,
		data BYTEA NOT NULL,
		idempotency_key TEXT,
		request_hash TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		purged_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX submissions_idempotency ON submissions (portal, idempotency_key)
		WHERE idempotency_key IS NOT NULL;
	CREATE INDEX submissions_status ON submissions (status, updated_at);
	CREATE TABLE attachments (
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		seq INTEGER NOT NULL,
		filename TEXT NOT NULL,
		package_name TEXT NOT NULL,
		media_type TEXT NOT NULL,
		size BIGINT NOT NULL,
		sha256 TEXT NOT NULL,
		PRIMARY KEY (submission_id, seq)
	);
	CREATE TABLE attachment_chunks (
		submission_id TEXT NOT NULL,
		seq INTEGER NOT NULL,
		chunk INTEGER NOT NULL,
		data BYTEA NOT NULL,
		PRIMARY KEY (submission_id, seq, chunk)
	);
	CREATE TABLE events (
		id BIGSERIAL PRIMARY KEY,
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		at BIGINT NOT NULL,
		type TEXT NOT NULL,
		destination TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX events_submission ON events (submission_id, id);
	CREATE TABLE messages (
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		destination TEXT NOT NULL,
		message_id TEXT NOT NULL,
		message_type TEXT NOT NULL,
		schema_set TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		xml BYTEA NOT NULL,
		PRIMARY KEY (submission_id, destination)
	);
	CREATE INDEX messages_message_id ON messages (message_id);
	CREATE TABLE deliveries (
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		destination TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		next_attempt_at BIGINT NOT NULL DEFAULT 0,
		artefact TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (submission_id, destination)
	);
	CREATE INDEX deliveries_status ON deliveries (status, updated_at);
	CREATE TABLE receipts (
		id BIGSERIAL PRIMARY KEY,
		file TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		kind TEXT NOT NULL,
		message_id TEXT NOT NULL DEFAULT '',
		submission_id TEXT NOT NULL DEFAULT '',
		destination TEXT NOT NULL DEFAULT '',
		outcome TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '',
		content BYTEA
	);
	CREATE TABLE audit (
		id BIGSERIAL PRIMARY KEY,
		at BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		subject TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_at ON audit (at);`,
	// Status changes are queued for portal callbacks only for portals that have a callback URL.
	`CREATE TABLE callback_portals (portal TEXT PRIMARY KEY);
	INSERT INTO callback_portals SELECT DISTINCT portal FROM submissions;
	DROP TRIGGER IF EXISTS submission_status_change ON submissions;`,
	// Attachments are mostly compressed already (PDF, images): storing chunks uncompressed saves
	// PostgreSQL a futile compression attempt on every chunk.
	`ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;`,
	migrateDocuments,
	migrateChannels,
	migrateStatusIndex,
	migrateReplies("BIGSERIAL PRIMARY KEY", "BIGINT", "BYTEA"),
	migratePaymentHolds,
	migrateCaseIndex,
	migrateSearch,
	migrateConsoleSessions,
	migrateReceiptsIndex,
}

// The migrations whose statements are the same on both stores.

// Documents: where a file came from (the portal, or generated: the readable application),
// its format as its content shows it, and the title the portal gave it; the message's media
// type (XÖV XML, or JSON for a Fachverfahren's own intake format); the id a receiving system
// gave the delivered object (a receipt's, e.g. xdomea 0630's DMS id).
const migrateDocuments = `ALTER TABLE attachments ADD COLUMN origin TEXT NOT NULL DEFAULT 'portal';
	ALTER TABLE attachments ADD COLUMN title TEXT NOT NULL DEFAULT '';
	ALTER TABLE attachments ADD COLUMN format TEXT NOT NULL DEFAULT '';
	ALTER TABLE attachments ADD COLUMN format_version TEXT NOT NULL DEFAULT '';
	ALTER TABLE attachments ADD COLUMN pdfa TEXT NOT NULL DEFAULT '';
	ALTER TABLE messages ADD COLUMN media_type TEXT NOT NULL DEFAULT 'application/xml';
	ALTER TABLE deliveries ADD COLUMN remote_id TEXT NOT NULL DEFAULT '';`

// Channels: a submission came from a portal's HTTP API or from FIT-Connect (channel), its
// data is JSON or XML (data_type), the identification's level of assurance and account type
// (trust), and what the channel says about it besides the data (meta: JSON, personal, purged).
// The FIT-Connect inbox knows every FIT-Connect submission once, whatever told amtsbote of
// it (a callback, a poll, another instance), and keeps the decision until the delivery
// service has it.
const migrateChannels = `ALTER TABLE submissions ADD COLUMN channel TEXT NOT NULL DEFAULT '';
	ALTER TABLE submissions ADD COLUMN data_type TEXT NOT NULL DEFAULT 'application/json';
	ALTER TABLE submissions ADD COLUMN trust_level TEXT NOT NULL DEFAULT '';
	ALTER TABLE submissions ADD COLUMN account_type TEXT NOT NULL DEFAULT '';
	ALTER TABLE submissions ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
	CREATE TABLE fitconnect_inbox (
		submission_id TEXT PRIMARY KEY,
		case_id TEXT NOT NULL DEFAULT '',
		subscription TEXT NOT NULL,
		destination_id TEXT NOT NULL,
		state TEXT NOT NULL,
		decision TEXT NOT NULL DEFAULT '',
		problems TEXT NOT NULL DEFAULT '',
		set_token TEXT NOT NULL DEFAULT '',
		amtsbote_id TEXT NOT NULL DEFAULT '',
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		seen_at BIGINT NOT NULL,
		submitted_at BIGINT NOT NULL DEFAULT 0,
		decided_at BIGINT NOT NULL DEFAULT 0,
		sent_at BIGINT NOT NULL DEFAULT 0,
		updated_at BIGINT NOT NULL
	);
	CREATE INDEX fitconnect_inbox_state ON fitconnect_inbox (state, seen_at);`

// The operator console searches submissions by any of these fields and pages them newest first
// by (received_at, id): each index serves a filter together with the order, so a page stays
// fast with millions of rows. The overview counts deliveries by status and time (PostgreSQL
// had that index from the start). The audit trail, with an entry per submission, is filtered by
// action and by subject (a submission) newest first.
const migrateSearch = `CREATE INDEX IF NOT EXISTS submissions_received ON submissions (received_at, id);
	CREATE INDEX IF NOT EXISTS submissions_reference ON submissions (reference);
	CREATE INDEX IF NOT EXISTS submissions_status_received ON submissions (status, received_at, id);
	CREATE INDEX IF NOT EXISTS submissions_route_received ON submissions (route, received_at, id);
	CREATE INDEX IF NOT EXISTS submissions_leistung_received ON submissions (leistung, received_at, id);
	CREATE INDEX IF NOT EXISTS submissions_ags_received ON submissions (ags, received_at, id);
	CREATE INDEX IF NOT EXISTS submissions_portal_received ON submissions (portal, received_at, id);
	CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, updated_at);
	CREATE INDEX IF NOT EXISTS audit_action ON audit (action, id);
	CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject, id);`

// Console sessions: the SHA-256 of the session cookie's value (the value itself is never
// stored), who signed in with which role and which token (a fingerprint), the CSRF token of the session's forms, and when the
// session ends. In the store, so that every instance of a cluster knows every session.
const migrateConsoleSessions = `CREATE TABLE console_sessions (
		id_sha256 TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		role TEXT NOT NULL,
		credential TEXT NOT NULL,
		csrf TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		seen_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX console_sessions_expires ON console_sessions (expires_at);`

// A submission's detail lists the receipts matched to it.
const migrateReceiptsIndex = `CREATE INDEX IF NOT EXISTS receipts_submission ON receipts (submission_id);`

// Reprocess and retention select submissions by status and age.
const migrateStatusIndex = `CREATE INDEX IF NOT EXISTS submissions_status ON submissions (status, updated_at);`

// A reply may name the original by its FIT-Connect caseId, looked up in the FIT-Connect inbox.
const migrateCaseIndex = `CREATE INDEX IF NOT EXISTS fitconnect_inbox_case ON fitconnect_inbox (case_id);`

func (s *Store) migrations() []string {
	if s.Driver == Postgres {
		return postgresMigrations
	}
	return sqliteMigrations
}

// schemaVersion is how many migrations the database has had.
func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	var version int
	if s.Driver == Postgres {
		err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&version)
		return version, err
	}
	err := s.DB.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version)
	return version, err
}

// clusterLockID keys the PostgreSQL advisory lock that serialises schema changes of instances
// starting at the same time ("amtsbote" in ASCII).
const clusterLockID = 0x616d74736f626f74

// migrate applies the migrations the database lacks, each in its own transaction. On PostgreSQL
// the whole run holds an advisory lock, so instances starting together migrate once.
func (s *Store) migrate(ctx context.Context) error {
	return s.schemaChange(ctx, func(tx *sql.Tx) error {
		var version int
		if s.Driver == Postgres {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
				return fmt.Errorf("create schema_version: %w", err)
			}
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&version); err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
		} else if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		all := s.migrations()
		if version > len(all) {
			return fmt.Errorf("the store has schema version %d, newer than this amtsbote (%d): upgrade amtsbote", version, len(all))
		}
		for i := version; i < len(all); i++ {
			if _, err := tx.ExecContext(ctx, all[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			record := fmt.Sprintf(`PRAGMA user_version = %d`, i+1)
			if s.Driver == Postgres {
				record = fmt.Sprintf(`INSERT INTO schema_version (version) VALUES (%d)`, i+1)
			}
			if _, err := tx.ExecContext(ctx, record); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		return nil
	})
}

// schemaChange runs fn in one transaction; on PostgreSQL under the cluster-wide advisory lock,
// so that instances starting at the same time change the schema one after the other.
func (s *Store) schemaChange(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if s.Driver == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(clusterLockID)); err != nil {
			tx.Rollback()
			return fmt.Errorf("wait for other instances changing the schema: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// PrepareQueues creates the queue tables of topics and the triggers that put every status
// change of a submission on the callback queue, in the transaction that makes the change.
//
// On PostgreSQL other instances may be working: only what is missing is created (DDL on a busy
// table would take locks that intake waits for), under the advisory lock that also serialises
// migrations.
func (s *Store) PrepareQueues(ctx context.Context, topics []string, callbackTopic string) error {
	return s.schemaChange(ctx, func(tx *sql.Tx) error {
		if err := s.createQueueTables(ctx, tx, topics); err != nil {
			return err
		}
		if s.Driver == Postgres {
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'submission_status_change')`).Scan(&exists); err != nil {
				return fmt.Errorf("look up status trigger: %w", err)
			}
			if exists {
				return nil
			}
		}
		for _, trigger := range s.statusTriggers(callbackTopic) {
			if _, err := tx.ExecContext(ctx, trigger); err != nil {
				return fmt.Errorf("create status trigger: %w", err)
			}
		}
		return nil
	})
}

// statusTriggers enqueue a message with every status change of a submission: whatever code path
// makes the change, it is never told twice or forgotten.
func (s *Store) statusTriggers(topic string) []string {
	table := queue.Table(topic)
	if s.Driver == Postgres {
		return []string{`CREATE OR REPLACE FUNCTION amtsbote_status_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
			DECLARE
				now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
				previous TEXT := '';
			BEGIN
				IF NOT EXISTS (SELECT 1 FROM callback_portals WHERE portal = NEW.portal) THEN RETURN NEW; END IF;
				IF TG_OP = 'UPDATE' THEN
					IF OLD.status = NEW.status THEN RETURN NEW; END IF;
					previous := OLD.status;
				END IF;
				INSERT INTO ` + table + ` (uuid, payload, metadata, not_before, created_at)
				VALUES (gen_random_uuid()::TEXT,
					convert_to(json_build_object('submission_id', NEW.id, 'status', NEW.status,
						'previous_status', previous, 'at', NEW.updated_at)::TEXT, 'UTF8'),
					'{}', now_ms, now_ms);
				RETURN NEW;
			END $fn$`,
			`CREATE OR REPLACE TRIGGER submission_status_change AFTER INSERT OR UPDATE OF status ON submissions
				FOR EACH ROW EXECUTE FUNCTION amtsbote_status_change()`}
	}
	insert := `INSERT INTO ` + table + ` (uuid, payload, metadata, not_before, created_at)
		VALUES (lower(hex(randomblob(16))),
			json_object('submission_id', NEW.id, 'status', NEW.status, 'previous_status', %s, 'at', NEW.updated_at),
			'{}', CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));`
	return []string{
		`CREATE TRIGGER IF NOT EXISTS submission_created_callback AFTER INSERT ON submissions
			WHEN NEW.portal IN (SELECT portal FROM callback_portals) BEGIN ` + fmt.Sprintf(insert, "''") + ` END`,
		`CREATE TRIGGER IF NOT EXISTS submission_status_callback AFTER UPDATE OF status ON submissions
			WHEN OLD.status != NEW.status AND NEW.portal IN (SELECT portal FROM callback_portals) BEGIN ` +
			fmt.Sprintf(insert, "OLD.status") + ` END`,
	}
}

// SetCallbackPortals records which portals get status callbacks: the status triggers queue
// changes only for their submissions. The daemon sets it from the configuration at start and on
// every reload.
func (s *Store) SetCallbackPortals(ctx context.Context, portals []string) error {
	return s.InTx(ctx, func(tx wmsql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM callback_portals`); err != nil {
			return fmt.Errorf("set callback portals: %w", err)
		}
		for _, p := range portals {
			if _, err := tx.ExecContext(ctx, `INSERT INTO callback_portals (portal) VALUES ($1)`, p); err != nil {
				return fmt.Errorf("set callback portals: %w", err)
			}
		}
		return nil
	})
}

// Replies: a Fachverfahren's answers (Bescheid, Nachforderung, status, Abschluss) with their
// documents (content in attachment_chunks under the reply's id), their delivery per channel
// back to the applicant, and the replies that could not be taken, filed for operators.
func migrateReplies(serial, bigint, blob string) string {
	return `CREATE TABLE replies (
		id TEXT PRIMARY KEY,
		submission_id TEXT NOT NULL REFERENCES submissions (id),
		source TEXT NOT NULL,
		via TEXT NOT NULL,
		external_id TEXT,
		kind TEXT NOT NULL,
		status TEXT NOT NULL,
		subject TEXT NOT NULL DEFAULT '',
		text TEXT NOT NULL DEFAULT '',
		message_type TEXT NOT NULL DEFAULT '',
		message ` + blob + `,
		received_at ` + bigint + ` NOT NULL,
		purged_at ` + bigint + ` NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX replies_external ON replies (source, external_id) WHERE external_id IS NOT NULL;
	CREATE INDEX replies_submission ON replies (submission_id, received_at);
	CREATE TABLE reply_documents (
		reply_id TEXT NOT NULL REFERENCES replies (id),
		seq INTEGER NOT NULL,
		name TEXT NOT NULL,
		media_type TEXT NOT NULL,
		size ` + bigint + ` NOT NULL,
		sha256 TEXT NOT NULL,
		PRIMARY KEY (reply_id, seq)
	);
	CREATE TABLE reply_deliveries (
		reply_id TEXT NOT NULL REFERENCES replies (id),
		channel TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		next_attempt_at ` + bigint + ` NOT NULL DEFAULT 0,
		artefact TEXT NOT NULL DEFAULT '',
		created_at ` + bigint + ` NOT NULL,
		updated_at ` + bigint + ` NOT NULL,
		PRIMARY KEY (reply_id, channel)
	);
	CREATE INDEX reply_deliveries_status ON reply_deliveries (status, updated_at);
	CREATE TABLE filed_replies (
		id ` + serial + `,
		received_at ` + bigint + ` NOT NULL,
		via TEXT NOT NULL,
		source TEXT NOT NULL DEFAULT '',
		origin TEXT NOT NULL DEFAULT '',
		outcome TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '',
		names TEXT NOT NULL DEFAULT '',
		content ` + blob + `
	);
	CREATE INDEX filed_replies_outcome ON filed_replies (outcome, id);`
}
