// Package storetest gives tests a store backend: a temporary SQLite directory, or a new, empty
// database on the PostgreSQL server named by AMTSBOTE_TEST_POSTGRES (.ci/run starts one).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
)

// EnvPostgres names the environment variable with the DSN of a PostgreSQL server for tests; the
// tests create and drop databases on it.
const EnvPostgres = "AMTSBOTE_TEST_POSTGRES"

// Backends lists the store drivers to run conformance tests on: sqlite always, postgres when a
// test server is configured. In CI (CI set) a missing server fails the test instead of
// leaving PostgreSQL untested.
func Backends(t testing.TB) []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{"sqlite", "postgres"}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a server)", EnvPostgres)
	}
	t.Logf("%s not set: PostgreSQL backend not tested here", EnvPostgres)
	return []string{"sqlite"}
}

// Postgres creates a new, empty database on the test server and returns its DSN; the database
// is dropped when the test ends. Without a server the test is skipped (failed in CI).
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests", EnvPostgres)
		}
		t.Skipf("%s not set: no PostgreSQL server for this test", EnvPostgres)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "amtsbote_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database on %s: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}
