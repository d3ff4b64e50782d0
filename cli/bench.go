package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/bench"
)

func benchCmd() *cobra.Command {
	var (
		o                    bench.Options
		dataSize, attachSize string
		start, driver, dsn   string
		instances            int
		binary               string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test running daemons, or start some and load-test them",
		Long: `Post realistic submissions over HTTP — the demo submission by default, each with its own
reference — at a fixed rate (--rate) or as fast as the connections allow, for a duration or a
count, and report accepted/s, latency percentiles and errors by kind. With --wait-delivered it
then waits until every accepted submission is delivered and reports delivered/s end to end and
the lag from acceptance to the last delivery (taken from the submissions' histories).

--target names running daemons (repeat it to spread the load round-robin). --start CONFIG
instead starts --instances daemons as child processes of this binary, in a temporary directory
(SQLite there, or --driver postgres --dsn …), measures their peak RSS, and stops them at the end.`,
		Example: `  amtsbote bench --start fixtures/demo/amtsbote.yaml --duration 30s --connections 32 \
      --data-size 10KB --attachment-size 100KB
  amtsbote bench --start fixtures/demo/amtsbote.yaml --rate 500 --duration 60s
  amtsbote bench --start fixtures/demo/amtsbote.yaml --driver postgres --dsn "$DSN" --instances 2 \
      --count 20000 --wait-delivered 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.DataBytes, err = parseSize(dataSize); err != nil {
				return usageError{fmt.Errorf("--data-size: %w", err)}
			}
			if o.AttachmentBytes, err = parseSize(attachSize); err != nil {
				return usageError{fmt.Errorf("--attachment-size: %w", err)}
			}
			if (start == "") == (len(o.Targets) == 0) {
				return usageError{fmt.Errorf("give either --target URL (running daemons) or --start CONFIG")}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var in *bench.Instances
			if start != "" {
				if binary == "" {
					if binary, err = os.Executable(); err != nil {
						return err
					}
				}
				in, err = bench.Start(ctx, bench.StartOptions{Binary: binary, Config: start, N: instances, Driver: driver, DSN: dsn})
				if err != nil {
					return err
				}
				defer in.Stop()
				o.Targets = in.Targets()
				fmt.Fprintf(cmd.OutOrStdout(), "started %d instance(s) on %s (%s) in %s\n", instances, driver, strings.Join(o.Targets, ", "), in.Dir)
			}
			generator := bench.CPUTime(os.Getpid())
			rep, err := bench.Run(ctx, o)
			if err != nil {
				return err
			}
			rep.Write(cmd.OutOrStdout())
			out := cmd.OutOrStdout()
			if in != nil {
				started := in.StartRSS()
				for i, rss := range in.MaxRSS() {
					fmt.Fprintf(out, "memory     instance %d: peak RSS %.0f MB (%.0f MB at start, growth %.0f MB)\n",
						i, float64(rss)/(1<<20), float64(started[i])/(1<<20), float64(rss-started[i])/(1<<20))
				}
				for i, c := range in.CPUSinceStart() {
					fmt.Fprintf(out, "cpu        instance %d: %s%s\n", i, cpuText(c), perSubmission(c, rep.Accepted/len(o.Targets)))
				}
			}
			fmt.Fprintf(out, "cpu        load generator: %s\n", cpuText(bench.CPUTime(os.Getpid()).Since(generator)))
			if rep.Accepted == 0 {
				return errFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Targets, "target", nil, "base URL of a running amtsbote (repeat for several)")
	f.StringVar(&o.Token, "token", "demo-portal-token", "portal bearer token")
	f.StringVar(&o.Submission, "submission", "fixtures/demo/submission.json", "submission JSON to send")
	f.StringVar(&dataSize, "data-size", "0", "pad the form data to about this size (e.g. 10KB)")
	f.StringVar(&attachSize, "attachment-size", "0", "send one attachment of this size instead of the file's (e.g. 100KB, 50MB)")
	f.BoolVar(&o.Multipart, "multipart", false, "send the attachment as a multipart/form-data file part instead of base64 JSON")
	f.IntVar(&o.Connections, "connections", 16, "concurrent connections")
	f.Float64Var(&o.Rate, "rate", 0, "requests per second in total (0: as fast as possible)")
	f.DurationVar(&o.Duration, "duration", 0, "how long to send")
	f.IntVar(&o.Count, "count", 0, "how many submissions to send")
	f.DurationVar(&o.WaitDelivered, "wait-delivered", 0, "afterwards wait up to this long for every delivery")
	f.StringVar(&start, "start", "", "start daemons with this configuration file instead of --target")
	f.IntVar(&instances, "instances", 1, "with --start: how many daemons (more than one needs --driver postgres)")
	f.StringVar(&driver, "driver", "sqlite", "with --start: storage driver")
	f.StringVar(&dsn, "dsn", "", "with --start --driver postgres: connection string")
	f.StringVar(&binary, "binary", "", "with --start: the amtsbote binary to run (default: this one)")
	return cmd
}

func cpuText(c bench.CPU) string {
	return fmt.Sprintf("%.1f s user + %.1f s system", c.User.Seconds(), c.System.Seconds())
}

// perSubmission divides an instance's CPU time by the submissions it accepted (an even share
// of all when there are several instances). With --wait-delivered that includes processing them.
func perSubmission(c bench.CPU, accepted int) string {
	if accepted <= 0 {
		return ""
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(accepted) }
	return fmt.Sprintf(" (%.2f ms user + %.2f ms system per accepted submission)", ms(c.User), ms(c.System))
}

// parseSize reads 100, 100KB, 10KiB, 50MB (KB = 1,000 bytes, KiB = 1,024).
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		factor int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}}
	factor := 1
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = strings.TrimSpace(v), u.factor
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 100KB or 50MB", s)
	}
	return n * factor, nil
}
