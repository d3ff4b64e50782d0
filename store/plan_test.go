package store

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/store/storetest"
)

// eachStore runs test on a fresh SQLite store and (when a test server is configured) a
// PostgreSQL one.
func eachStore(t *testing.T, test func(t *testing.T, st *Store)) {
	backends := []Options{{Driver: SQLite, DataDir: t.TempDir()}}
	if os.Getenv(storetest.EnvPostgres) != "" {
		backends = append(backends, Options{Driver: Postgres, DSN: storetest.Postgres(t)})
	}
	for _, o := range backends {
		t.Run(o.Driver, func(t *testing.T) {
			st, err := OpenWith(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			test(t, st)
		})
	}
}

// queryPlan is the plan the store's database chooses for query, as text. On PostgreSQL the
// tables of a test are nearly empty: sequential and bitmap scans are switched off so that the
// plan shows what the planner would do with large ones.
func queryPlan(t *testing.T, st *Store, query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := st.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if st.Driver == Postgres {
		explain = "EXPLAIN "
		for _, set := range []string{"SET enable_seqscan = off", "SET enable_bitmapscan = off"} {
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, err := conn.QueryContext(ctx, explain+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if s, ok := v.(string); ok {
				plan.WriteString(s + "\n")
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}
