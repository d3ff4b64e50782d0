package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
)

func serveCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: accept submissions, map, validate and deliver them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				return usageError{err}
			}
			log := newLogger(cfg.Log)
			if n, raised := raiseProcs(os.Getenv); raised {
				log.Debug("one Go processor more than the CPU cores", "gomaxprocs", n)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			d, err := daemon.Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			if err := d.WatchConfig(ctx, 500*time.Millisecond); err != nil {
				log.Warn("configuration files are not watched; reload with SIGHUP", "error", err)
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					_ = d.Reload()
				}
			}()
			waitErr := d.Wait(ctx)
			stop()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), d.ShutdownTimeout())
			defer cancel()
			if err := d.Shutdown(shutdownCtx); err != nil {
				return err
			}
			return waitErr
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	return cmd
}

// raiseProcs gives the daemon one Go processor (GOMAXPROCS) more than the CPU cores it may use,
// unless the environment sets GOMAXPROCS. A goroutine waiting in fsync — for a commit or a file
// drop — keeps its processor until the runtime takes it back, and with one processor per core a
// core then idles while work waits (docs/benchmarks.md, "One processor more"). As with
// GOMAXPROCS set in the environment, the runtime then no longer follows a changed CPU limit by
// itself.
func raiseProcs(getenv func(string) string) (int, bool) {
	if getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0), false
	}
	n := runtime.GOMAXPROCS(0) + 1
	runtime.GOMAXPROCS(n)
	return n, true
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // checked by config.Validate
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
