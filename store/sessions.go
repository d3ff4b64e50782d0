package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a signed-in user of the operator console. Its id is the cookie's value; the store
// keeps only the id's SHA-256, so that a copy of the database signs no one in.
type Session struct {
	// ID is the cookie's value: known only from CreateSession and to the browser.
	ID   string
	Name string
	Role string
	// Credential is the fingerprint of the token the user signed in with.
	Credential string
	// CSRF is the token the session's forms carry.
	CSRF      string
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}

// SessionLifetime bounds a session: it ends after Idle without a request, and MaxAge after
// sign-in however busy.
type SessionLifetime struct {
	Idle, MaxAge time.Duration
}

// expiry is when a session created at created and seen at seen ends.
func (l SessionLifetime) expiry(created, seen time.Time) time.Time {
	end := created.Add(l.MaxAge)
	if idle := seen.Add(l.Idle); idle.Before(end) {
		end = idle
	}
	return end
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// CreateSession signs a user in with the token of credential: a new session with a random id and
// CSRF token.
func (s *Store) CreateSession(ctx context.Context, name, role, credential string, now time.Time, l SessionLifetime) (Session, error) {
	id, err := randomToken()
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	csrf, err := randomToken()
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	now = now.Truncate(time.Millisecond)
	sess := Session{ID: id, Name: name, Role: role, Credential: credential, CSRF: csrf, CreatedAt: now, SeenAt: now, ExpiresAt: l.expiry(now, now)}
	_, err = s.DB.ExecContext(ctx, `INSERT INTO console_sessions (id_sha256, name, role, credential, csrf, created_at, seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sessionKey(id), name, role, credential, csrf, ms(now), ms(now), ms(sess.ExpiresAt))
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// SessionByID returns the session of a cookie's value; ErrNotFound when there is none or it has
// expired at now.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (Session, error) {
	sess := Session{ID: id}
	var created, seen, expires int64
	err := s.DB.QueryRowContext(ctx, `SELECT name, role, credential, csrf, created_at, seen_at, expires_at FROM console_sessions
		WHERE id_sha256 = $1`, sessionKey(id)).Scan(&sess.Name, &sess.Role, &sess.Credential, &sess.CSRF, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	sess.CreatedAt, sess.SeenAt, sess.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	if !now.Before(sess.ExpiresAt) {
		return Session{}, ErrNotFound
	}
	return sess, nil
}

// TouchSession records a request of the session at now: it lives on for the idle time, but not
// beyond its maximum age. ErrNotFound when the session has ended.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time, l SessionLifetime) (Session, error) {
	sess, err := s.SessionByID(ctx, id, now)
	if err != nil {
		return sess, err
	}
	now = now.Truncate(time.Millisecond)
	sess.SeenAt, sess.ExpiresAt = now, l.expiry(sess.CreatedAt, now)
	_, err = s.DB.ExecContext(ctx, `UPDATE console_sessions SET seen_at = $1, expires_at = $2 WHERE id_sha256 = $3`,
		ms(now), ms(sess.ExpiresAt), sessionKey(id))
	if err != nil {
		return Session{}, fmt.Errorf("touch session: %w", err)
	}
	return sess, nil
}

// DeleteSession signs a session out (deleting one that is gone is no error).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_sha256 = $1`, sessionKey(id)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PurgeSessions deletes the sessions that have ended by now and returns how many.
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return res.RowsAffected()
}
