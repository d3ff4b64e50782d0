package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// migrate-store moves a single node's SQLite store to PostgreSQL with nothing lost: the dead
// letter, its history and its attachments are there, and a replay on the PostgreSQL store
// delivers it. A second copy into the now used database is refused and changes nothing.
func TestMigrateStoreToPostgres(t *testing.T) {
	dsn := storetest.Postgres(t)
	dir, cfgFile := deadLetterDemo(t)
	id := runDaemonUntil(t, cfgFile, "dead", "")

	code, out, errOut := runCLI("migrate-store", "--config", cfgFile, "--to", dsn)
	if code != 0 || !strings.Contains(out, "row counts checked") || !strings.Contains(out, "watermill_callbacks") {
		t.Fatalf("migrate-store: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI("migrate-store", "--config", cfgFile, "--to", dsn)
	if code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("second copy: exit %d %s", code, errOut)
	}

	edit(t, cfgFile, "driver: sqlite", "driver: postgres\n  dsn: "+dsn)
	st, err := store.OpenShared(context.Background(), store.Options{Driver: store.Postgres, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, _ := st.Events(context.Background(), id)
	atts, _ := st.Attachments(context.Background(), id)
	if len(events) < 3 || len(atts) == 0 || atts[0].Size == 0 {
		t.Fatalf("after the copy: %d events, attachments %+v", len(events), atts)
	}
	code, out, _ = runCLI("dlq", "list", "--config", cfgFile)
	if code != 0 || !strings.Contains(out, id+"  eakte") {
		t.Fatalf("dlq list on PostgreSQL: exit %d\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "out/eakte"))
	if code, out, _ := runCLI("dlq", "replay", id, "--config", cfgFile, "--as", "ops-bernd"); code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	runDaemonUntil(t, cfgFile, "delivered", id)
}
