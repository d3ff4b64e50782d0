package admin_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// benchRows submissions received over 30 days up to benchEnd fill the console's benchmark
// store: 1,000,000, or AMTSBOTE_BENCH_ROWS (for a quick try of the benchmark itself).
var benchRows = func() int64 {
	if n, err := strconv.ParseInt(os.Getenv("AMTSBOTE_BENCH_ROWS"), 10, 64); err == nil && n >= 100_000 {
		return n
	}
	return 1_000_000
}()

const (
	// benchVersion names the shape of the data: a store filled with another is filled again.
	benchVersion = 1
	// EnvBenchDir names a directory that keeps the filled SQLite store between runs.
	envBenchDir = "AMTSBOTE_BENCH_DIR"
	// benchDatabase is the PostgreSQL database kept between runs on the server of
	// AMTSBOTE_TEST_POSTGRES.
	benchDatabase = "amtsbote_bench_console"
)

var benchEnd = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// BenchmarkConsole measures the server time of the operator console's queries — the overview
// and searches — on a store of 1,000,000 submissions, on SQLite and (with
// AMTSBOTE_TEST_POSTGRES) PostgreSQL, both as functions and through the HTTP handler with
// its JSON encoding. The store is filled once with set-based SQL and kept for later runs
// (AMTSBOTE_BENCH_DIR for SQLite; the database amtsbote_bench_console for PostgreSQL).
//
//	AMTSBOTE_BENCH_DIR=/var/tmp/amtsbote-bench go test ./admin -run '^$' -bench Console -benchtime 20x
func BenchmarkConsole(b *testing.B) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		b.Run(backend, func(b *testing.B) {
			st := benchStore(b, backend)
			sum := sha256.Sum256([]byte(benchToken))
			srv := admin.New(st, config.Admin{TokenSHA256: hex.EncodeToString(sum[:])}.AdminUsers(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			srv.Now = func() time.Time { return benchEnd }
			h := srv.Handler()
			ctx := context.Background()

			// The cursor 10,000 submissions in: 20 pages of 500.
			var deep *store.SubmissionCursor
			for i := 0; i < 20; i++ {
				_, next, err := st.SearchSubmissions(ctx, store.SubmissionFilter{}, deep, 500)
				if err != nil || next == nil {
					b.Fatalf("paging to 10,000: %v", err)
				}
				deep = next
			}
			day := benchEnd.Add(-3 * 24 * time.Hour)
			searches := []struct {
				name string
				q    admin.SearchQuery
			}{
				{"first-page", admin.SearchQuery{}},
				{"status=failed", admin.SearchQuery{Filter: store.SubmissionFilter{Status: store.StatusFailed}}},
				{"status=dead,portal", admin.SearchQuery{Filter: store.SubmissionFilter{Status: store.StatusDead, Portal: "portal-7"}}},
				{"route", admin.SearchQuery{Filter: store.SubmissionFilter{Route: "route-7"}}},
				{"leistung+ags", admin.SearchQuery{Filter: store.SubmissionFilter{Leistung: benchLeistung(17), AGS: benchAGS(123)}}},
				{"reference", admin.SearchQuery{Filter: store.SubmissionFilter{Reference: fmt.Sprintf("AZ-2026-%d", benchRows*2/3+4321)}}},
				{"time-range", admin.SearchQuery{Filter: store.SubmissionFilter{From: day, To: day.Add(24 * time.Hour)}}},
				{"status=failed,time-range", admin.SearchQuery{Filter: store.SubmissionFilter{Status: store.StatusFailed, From: day, To: day.Add(24 * time.Hour)}}},
				{"deep-page", admin.SearchQuery{After: deep}},
			}
			for i := range searches {
				if searches[i].q.Limit == 0 {
					searches[i].q.Limit = admin.DefaultSearchLimit
				}
				page, err := srv.Search(ctx, searches[i].q)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Submissions) == 0 {
					b.Fatalf("%s finds nothing: the benchmark would measure an empty answer", searches[i].name)
				}
			}
			b.Run("func/overview", func(b *testing.B) {
				for b.Loop() {
					if _, err := srv.Overview(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			for _, s := range searches {
				b.Run("func/search/"+s.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := srv.Search(ctx, s.q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			get := func(b *testing.B, path string) {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("Authorization", "Bearer "+benchToken)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
			}
			b.Run("http/overview", func(b *testing.B) {
				for b.Loop() {
					get(b, "/v1/overview")
				}
			})
			for _, s := range searches {
				path := "/v1/submissions?" + s.q.Values().Encode()
				b.Run("http/search/"+s.name, func(b *testing.B) {
					for b.Loop() {
						get(b, path)
					}
				})
			}
		})
	}
}

const benchToken = "bench-token"

// benchLeistung and benchAGS are the n-th of the 50 Leistungen and 400 AGS of the data.
func benchLeistung(n int) string { return fmt.Sprintf("99%012d", n) }
func benchAGS(n int) string      { return fmt.Sprintf("09%06d", n) }

// benchStore opens the filled benchmark store of a backend, filling it first if it is not.
func benchStore(b *testing.B, backend string) *store.Store {
	ctx := context.Background()
	o := store.Options{Driver: backend}
	if backend == store.Postgres {
		base := os.Getenv(storetest.EnvPostgres)
		if base == "" {
			b.Skipf("%s not set", storetest.EnvPostgres)
		}
		o.DSN = benchPostgres(b, base)
	} else {
		dir := os.Getenv(envBenchDir)
		if dir == "" {
			dir = b.TempDir()
			b.Logf("%s not set: the store is filled in a temporary directory and not kept", envBenchDir)
		}
		o.DataDir = filepath.Join(dir, "console-sqlite")
	}
	filled := func() bool {
		st, err := store.OpenWith(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		var version int
		var rows int64
		err = st.DB.QueryRowContext(ctx, `SELECT version, rows FROM bench_console_filled`).Scan(&version, &rows)
		return err == nil && version == benchVersion && rows == benchRows
	}
	if !filled() {
		start := time.Now()
		// SQLite is filled over a connection of its own, without the store's write-ahead log
		// and durable commits (the store is closed meanwhile).
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(o.DataDir, store.FileName)+"?_journal_mode=OFF&_sync=OFF")
		if backend == store.Postgres {
			db, err = sql.Open("pgx", o.DSN)
		}
		if err != nil {
			b.Fatal(err)
		}
		err = benchFill(ctx, db, backend)
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: filled %d submissions in %s", backend, benchRows, time.Since(start).Round(time.Second))
	}
	st, err := store.OpenWith(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchPostgres creates the benchmark database on the server unless it exists, and returns its
// DSN.
func benchPostgres(b *testing.B, base string) string {
	db, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, benchDatabase).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := db.Exec(`CREATE DATABASE ` + benchDatabase); err != nil {
			b.Fatal(err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + benchDatabase
	return u.String()
}

// benchData is a submission's form data, about 1 KB as a typical application's.
var benchData = []byte(`{"antragsteller":{"anrede":"Frau","vorname":"Erika","familienname":"Mustermann","geburtsdatum":"1964-08-12",` +
	`"anschrift":{"strasse":"Heidestraße","hausnummer":"17","postleitzahl":"51147","ort":"Köln"},"email":"erika@example.org",` +
	`"telefon":"+49 221 1234567"},"betrieb":{"name":"Mustermann Feinkost","rechtsform":"Einzelunternehmen","taetigkeit":` +
	`"Einzelhandel mit Lebensmitteln, Feinkost und Getränken","beginn":"2026-12-01","anschrift":{"strasse":"Hauptstraße",` +
	`"hausnummer":"5","postleitzahl":"51147","ort":"Köln"},"beschaeftigte":{"vollzeit":2,"teilzeit":3}},"zustimmungen":` +
	`{"datenschutz":true,"richtigkeit":true},"anlagen":[{"titel":"Personalausweis","datei":"ausweis.pdf"},{"titel":` +
	`"Handelsregisterauszug","datei":"hr.pdf"}],"bemerkung":"Bitte um Rückruf vormittags. Die Räume sind ab dem 15.11. ` +
	`angemietet, der Umbau ist abgeschlossen.","zahlung":{"betrag":"26.00","waehrung":"EUR","referenz":"PAY-2026-000000"}}`)

// benchFill fills the store in chunks with set-based statements: submissions received at a
// steady rate over 30 days (two at a time in the same millisecond), 10 portals, 20 routes, 50
// Leistungen, 400 AGS (each pair of Leistung and AGS with 50 submissions), 1 % failed, 0.5 % dead, some processing and awaiting payment, the
// oldest third purged; each but the failed and held with a delivery to one of 5 destinations,
// and each with two events.
//
// The indexes of the three tables are dropped first and built again at the end (the primary
// keys stay): that is many times faster than inserting into them.
func benchFill(ctx context.Context, db *sql.DB, backend string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	pg := backend == store.Postgres
	exec := func(q string, args ...any) error {
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%w\n%s", err, q)
		}
		return nil
	}
	settings := []string{`PRAGMA cache_size = -1000000`, `PRAGMA journal_mode = OFF`}
	indexes := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
		AND tbl_name IN ('submissions', 'deliveries', 'events')`
	if pg {
		settings = []string{`SET synchronous_commit = off`, `SET maintenance_work_mem = '512MB'`}
		indexes = `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
			AND tablename IN ('submissions', 'deliveries', 'events') AND indexname NOT LIKE '%\_pkey'`
	}
	for _, q := range settings {
		if err := exec(q); err != nil {
			return err
		}
	}
	rows, err := conn.QueryContext(ctx, indexes)
	if err != nil {
		return err
	}
	var names, creates []string
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			rows.Close()
			return err
		}
		names, creates = append(names, name), append(creates, create)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, q := range []string{`DROP TABLE IF EXISTS bench_console_filled`, `DELETE FROM events`, `DELETE FROM deliveries`,
		`DELETE FROM submissions`} {
		if err := exec(q); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := exec(`DROP INDEX "` + name + `"`); err != nil {
			return err
		}
	}
	start := benchEnd.Add(-30 * 24 * time.Hour).UnixMilli()
	step := int64(30*24*time.Hour/time.Millisecond) / benchRows * 2 // ms between pairs
	// The expressions of a row n, in each dialect.
	var seq, id, leistung, ags, data string
	if pg {
		seq = `SELECT n FROM generate_series({from}::bigint, {to}::bigint) AS n`
		id = `lpad(to_hex((n * 2654435761) % 4294967296), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0')`
		leistung = `'99' || lpad(((n * 13) % 50)::text, 12, '0')`
		ags = `'09' || lpad((((n / 50) * 31) % 400)::text, 6, '0')`
		data = `CASE WHEN n <= {purged} THEN ''::bytea ELSE $1::bytea END`
	} else {
		seq = `WITH RECURSIVE seq(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM seq WHERE n < {to}) SELECT n FROM seq`
		id = `printf('%08x-0000-4000-8000-%012x', (n * 2654435761) % 4294967296, n)`
		leistung = `printf('99%012d', (n * 13) % 50)`
		ags = `printf('09%06d', ((n / 50) * 31) % 400)`
		data = `CASE WHEN n <= {purged} THEN x'' ELSE $1 END`
	}
	// r spreads the statuses over the other fields (n's low digits choose portal, route and
	// Leistung).
	r := `(((n * 2654435761) % 4294967296) % 1000)`
	status := `CASE WHEN ` + r + ` < 10 THEN 'failed' WHEN ` + r + ` < 15 THEN 'dead' WHEN ` + r + ` < 17 THEN 'processing'
		WHEN ` + r + ` < 19 THEN 'awaiting_payment' ELSE 'delivered' END`
	received := fmt.Sprintf(`(%d + (n / 2) * %d)`, start, step)
	const chunk = 100_000
	for from := int64(1); from <= benchRows; from += chunk {
		to := min(from+chunk-1, benchRows)
		// The numbers are written into the statements: SQLite numbers parameters by their
		// first appearance, which differs between the statements' parts.
		fill := strings.NewReplacer("{from}", fmt.Sprint(from), "{to}", fmt.Sprint(to), "{purged}", fmt.Sprint(benchRows/3)).Replace
		q := `INSERT INTO submissions (id, portal, reference, leistung, ags, ars, route, status, data, request_hash,
				received_at, updated_at, purged_at, channel, data_type, meta)
			SELECT ` + id + `, 'portal-' || (n % 10), 'AZ-2026-' || n, ` + leistung + `, ` + ags + `, '', 'route-' || ((n * 7) % 20),
				` + status + `, ` + data + `, 'h', ` + received + `, ` + received + ` + 3000,
				CASE WHEN n <= {purged} THEN ` + received + ` + 864000000 ELSE 0 END,
				CASE WHEN n % 10 = 0 THEN 'fitconnect' ELSE 'portal' END, 'application/json', '{}'
			FROM (` + seq + `) AS s`
		if err := exec(fill(q), benchData); err != nil {
			return err
		}
		q = `INSERT INTO deliveries (submission_id, destination, status, attempts, last_error, created_at, updated_at)
			SELECT ` + id + `, 'dest-' || (n % 5), CASE WHEN ` + r + ` < 15 THEN 'dead' WHEN ` + r + ` < 17 THEN 'pending'
					ELSE 'delivered' END,
				CASE WHEN ` + r + ` < 15 THEN 10 ELSE 1 END,
				CASE WHEN ` + r + ` < 15 THEN 'SFTP upload: connection refused' ELSE '' END, ` + received + ` + 1000, ` + received + ` + 3000
			FROM (` + seq + `) AS s WHERE ` + r + ` >= 10 AND (` + r + ` < 17 OR ` + r + ` >= 19)`
		if err := exec(fill(q)); err != nil {
			return err
		}
		q = `INSERT INTO events (submission_id, at, type, destination, detail)
			SELECT ` + id + `, ` + received + `, 'received', '', '' FROM (` + seq + `) AS s
			UNION ALL
			SELECT ` + id + `, ` + received + ` + 3000, CASE WHEN ` + r + ` < 10 THEN 'validation_failed' WHEN ` + r + ` < 15 THEN 'dead'
					ELSE 'delivered' END, CASE WHEN ` + r + ` < 10 THEN '' ELSE 'dest-' || (n % 5) END,
				CASE WHEN ` + r + ` < 10 THEN 'betrieb.beginn: not a date' ELSE '' END
			FROM (` + seq + `) AS s`
		if err := exec(fill(q)); err != nil {
			return err
		}
	}
	for _, q := range creates {
		if err := exec(q); err != nil {
			return err
		}
	}
	if pg {
		// As autovacuum would after such a load: statistics for the planner, and the visibility
		// map that lets counts read the index alone.
		if err := exec(`VACUUM ANALYZE`); err != nil {
			return err
		}
	} else if err := exec(`PRAGMA journal_mode = WAL`); err != nil {
		return err
	}
	if err := exec(`CREATE TABLE bench_console_filled (version INTEGER NOT NULL, rows INTEGER NOT NULL)`); err != nil {
		return err
	}
	return exec(`INSERT INTO bench_console_filled VALUES ($1, $2)`, benchVersion, benchRows)
}
