package store

import (
	"context"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version records how many ran. Never edit one that
// has shipped: append a new one.
var migrations = []string{
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
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.DB.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("the store has schema version %d, newer than this amtsbote (%d): upgrade amtsbote", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := s.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}
