package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store"
)

func migrateStoreCmd() *cobra.Command {
	var file, to string
	cmd := &cobra.Command{
		Use:   "migrate-store --to TARGET",
		Short: "Copy the whole store to a new, empty store (SQLite ↔ PostgreSQL)",
		Long: `Copy everything in the store the configuration names — submissions, attachments, history,
messages, deliveries, dead letters, receipts, audit trail and the queues with their pending work
and backoff schedules — into a new, empty store, in one transaction: the copy is complete or not
there at all, and the row counts are checked afterwards.

TARGET is a PostgreSQL connection string (postgres://…), or a directory for a SQLite store.
Stop amtsbote first: a SQLite store in use is refused; with PostgreSQL, stop every instance.
Then point storage.driver / storage.dsn (or storage.data_dir) at the target and start again.
The source is left as it was: keep it until the new store has been checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usageError{fmt.Errorf("--to is required: a postgres:// connection string or a SQLite data directory")}
			}
			cfg, err := config.Load(file)
			if err != nil {
				return usageError{err}
			}
			ctx := context.Background()
			src := daemon.StoreOptions(cfg)
			from, err := store.OpenWith(ctx, src)
			if err != nil {
				return fmt.Errorf("open the source store: %w (stop amtsbote first)", err)
			}
			defer from.Close()
			target := store.Options{Driver: store.SQLite, DataDir: to}
			if strings.HasPrefix(to, "postgres://") || strings.HasPrefix(to, "postgresql://") {
				target = store.Options{Driver: store.Postgres, DSN: to}
			} else if entries, err := os.ReadDir(to); err == nil && len(entries) > 0 {
				return usageError{fmt.Errorf("--to %s: the directory is not empty; name a new one", to)}
			}
			if target.Driver == src.Driver && target.DSN == src.DSN && target.DataDir == src.DataDir {
				return usageError{fmt.Errorf("--to names the store the configuration already uses")}
			}
			dst, err := store.OpenWith(ctx, target)
			if err != nil {
				return fmt.Errorf("open the target store: %w", err)
			}
			defer dst.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "copying %s (%s) to %s (%s)\n", from.Path, from.Driver, dst.Path, dst.Driver)
			report, err := store.Copy(ctx, from, dst, func(table string, rows int64) {
				fmt.Fprintf(cmd.OutOrStdout(), "  %-36s %8d rows\n", table, rows)
			})
			if err != nil {
				return fmt.Errorf("%w: nothing was kept in the target", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %d tables; row counts checked. Now set storage to the new store and start amtsbote.\n", len(report.Tables))
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML) naming the source store")
	cmd.Flags().StringVar(&to, "to", "", "target: postgres://… connection string or SQLite data directory")
	return cmd
}
