package cli

import (
	"context"
	"fmt"
	"io"
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
		slow                 time.Duration
		slowInFlight         int
		shapeText            string
		rounds               int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test running daemons, or start some and load-test them",
		Long: `Post realistic submissions over HTTP — the demo submission by default, each with its own
reference — at a fixed rate (--rate) or as fast as the connections allow, for a duration or a
count, and report accepted/s, latency percentiles and errors by kind. With --wait-delivered it
then waits until every accepted submission is delivered and reports delivered/s end to end, the
lag from acceptance to the last delivery (taken from the submissions' histories) and, for what
was still waiting when the intake ended, the drain rate.

--target names running daemons (repeat it to spread the load round-robin). --start CONFIG
instead starts --instances daemons as child processes of this binary, in a temporary directory
(SQLite there, or --driver postgres --dsn …), measures their peak RSS, and stops them at the end.

Two scenarios compare the configuration given to --start with one derived from it (written into
the temporary directory; the given files stay as they are), running the same load against each
on fresh daemons, --rounds times (the order alternates: given first, then derived first, …):

--slow-destination DELAY (isolation): the derived configuration adds a destination of type http
that every route sends to as well, posting to a receiver in this process that answers each
delivery after DELAY. The figures leave that destination out: --wait-delivered waits until the
other destinations have delivered everything, and the ratio of their delivered/s with and
without the slow one says how well destinations are isolated from each other.

--shape ROUTESxDESTINATIONS (e.g. 20x5): the derived configuration has that many routes, copies
of the route the submission takes, each matching its own Leistung key, route i sending to file
drops i and i+1 (mod DESTINATIONS); the load is spread evenly over the keys. It reports the
shape's intake and drain rates against the configuration's as given. The drain rate counts the
submissions still waiting when the intake ended and delivered before the wait ended, so a wait
shorter than the drain measures it over the part it saw (docs/benchmarks.md).`,
		Example: `  amtsbote bench --start fixtures/demo/amtsbote.yaml --duration 30s --connections 32 \
      --data-size 10KB --attachment-size 100KB
  amtsbote bench --start fixtures/demo/amtsbote.yaml --rate 500 --duration 60s
  amtsbote bench --start fixtures/demo/amtsbote.yaml --driver postgres --dsn "$DSN" --instances 2 \
      --count 20000 --wait-delivered 10m
  amtsbote bench --start fixtures/demo/amtsbote.yaml --slow-destination 1s --count 2000 --wait-delivered 5m
  amtsbote bench --start fixtures/demo/amtsbote.yaml --shape 20x5 --count 100000 --wait-delivered 2h`,
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
			var shape bench.Shape
			if shapeText != "" {
				if shape, err = bench.ParseShape(shapeText); err != nil {
					return usageError{fmt.Errorf("--shape: %w", err)}
				}
			}
			scenario := slow > 0 || shapeText != ""
			switch {
			case slow < 0:
				return usageError{fmt.Errorf("--slow-destination %s: expected a positive delay such as 1s", slow)}
			case slow > 0 && shapeText != "":
				return usageError{fmt.Errorf("--slow-destination and --shape are separate scenarios: give one of them")}
			case scenario && start == "":
				return usageError{fmt.Errorf("--slow-destination and --shape derive configurations: they need --start CONFIG, not --target")}
			case scenario && o.WaitDelivered <= 0:
				return usageError{fmt.Errorf("--slow-destination and --shape compare delivered/s: give --wait-delivered (how long to wait for the deliveries)")}
			case rounds < 1:
				return usageError{fmt.Errorf("--rounds %d: expected at least 1", rounds)}
			case slowInFlight < 1 || slowInFlight > 64:
				return usageError{fmt.Errorf("--slow-max-in-flight %d: expected 1 to 64 (a destination's max_in_flight)", slowInFlight)}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			if start == "" {
				return runLoad(ctx, out, "", nil, o, nil)
			}
			if binary == "" {
				if binary, err = os.Executable(); err != nil {
					return err
				}
			}
			so := bench.StartOptions{Binary: binary, Config: start, N: instances, Driver: driver, DSN: dsn}
			switch {
			case slow > 0:
				return runIsolation(ctx, out, so, o, slow, slowInFlight, rounds)
			case shapeText != "":
				return runShape(ctx, out, so, o, shape, rounds)
			}
			return runLoad(ctx, out, "", &so, o, nil)
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
	f.DurationVar(&slow, "slow-destination", 0, "with --start: isolation scenario, adding a destination that takes this long per delivery (e.g. 1s)")
	f.IntVar(&slowInFlight, "slow-max-in-flight", 4, "with --slow-destination: the slow destination's max_in_flight")
	f.StringVar(&shapeText, "shape", "", "with --start: shape scenario, ROUTESxDESTINATIONS (e.g. 20x5) against the configuration as given")
	f.IntVar(&rounds, "rounds", 1, "with --slow-destination or --shape: how many times to run both configurations in turn")
	return cmd
}

// runLoad runs one load: against o.Targets, or (so set) against daemons it starts and stops. A
// label heads the output; after, if set, runs when the load and the wait have ended, before the
// daemons stop.
func runLoad(ctx context.Context, out io.Writer, label string, so *bench.StartOptions, o bench.Options, after func(bench.Report)) error {
	_, err := load(ctx, out, label, so, o, after)
	return err
}

func load(ctx context.Context, out io.Writer, label string, so *bench.StartOptions, o bench.Options, after func(bench.Report)) (bench.Report, error) {
	if label != "" {
		fmt.Fprintf(out, "--- %s\n", label)
	}
	var in *bench.Instances
	if so != nil {
		var err error
		if in, err = bench.Start(ctx, *so); err != nil {
			return bench.Report{}, err
		}
		defer in.Stop()
		o.Targets = in.Targets()
		fmt.Fprintf(out, "started %d instance(s) on %s (%s) in %s\n", len(o.Targets), so.Driver, strings.Join(o.Targets, ", "), in.Dir)
	}
	generator := bench.CPUTime(os.Getpid())
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return rep, err
	}
	if after != nil {
		after(rep)
	}
	rep.Write(out)
	if in != nil {
		started := in.StartRSS()
		for i, rss := range in.MaxRSS() {
			fmt.Fprintf(out, "memory     instance %d: peak RSS %.0f MB (%.0f MB at start, growth %.0f MB)\n",
				i, float64(rss)/(1<<20), float64(started[i])/(1<<20), float64(rss-started[i])/(1<<20))
		}
		for i, c := range in.CPUSinceStart() {
			fmt.Fprintf(out, "cpu        instance %d: %s%s\n", i, cpuText(c), perSubmission(c, rep.Accepted/len(o.Targets)))
			rep.DaemonCPU.User += c.User
			rep.DaemonCPU.System += c.System
		}
	}
	fmt.Fprintf(out, "cpu        load generator: %s\n", cpuText(bench.CPUTime(os.Getpid()).Since(generator)))
	if rep.Accepted == 0 {
		return rep, errFailed
	}
	return rep, ctx.Err()
}

// runIsolation runs the load against the configuration as given and against one with a
// destination that takes delay per delivery, rounds times in turn.
func runIsolation(ctx context.Context, out io.Writer, so bench.StartOptions, o bench.Options, delay time.Duration, inFlight, rounds int) error {
	o.WaitExcept = []string{bench.SlowDestination}
	var results []bench.IsolationRound
	for i := range rounds {
		var r bench.IsolationRound
		without := func() (err error) {
			r.Without, err = load(ctx, out, fmt.Sprintf("round %d of %d: as given", i+1, rounds), &so, o, nil)
			return err
		}
		with := func() error {
			recv, err := bench.StartSlowReceiver(delay)
			if err != nil {
				return err
			}
			defer recv.Close()
			so := so
			so.Derive = func(config, dir string) (string, error) {
				return bench.IsolationConfig(config, dir, recv.URL(), inFlight)
			}
			begun := time.Now()
			r.With, err = load(ctx, out, fmt.Sprintf("round %d of %d: with %s, %s per delivery, max_in_flight %d", i+1, rounds, bench.SlowDestination, delay, inFlight),
				&so, o, func(bench.Report) { r.Slow, r.Span = recv.Stats(), time.Since(begun) })
			return err
		}
		if err := inTurn(i, without, with); err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Fprintln(out, "---")
	bench.WriteIsolation(out, results)
	return nil
}

// inTurn runs the given configuration's load and the derived one's, in round i: as given first in
// the first round, the derived one first in the second, and so on (ABBA), so that a machine
// getting slower or faster over the rounds does not favour one of them.
func inTurn(round int, given, derived func() error) error {
	first, second := given, derived
	if round%2 == 1 {
		first, second = derived, given
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// runShape runs the same load against the configuration as given and against a generated shape,
// rounds times in turn.
func runShape(ctx context.Context, out io.Writer, so bench.StartOptions, o bench.Options, shape bench.Shape, rounds int) error {
	leistung, ags, err := bench.SubmissionKeys(o.Submission)
	if err != nil {
		return usageError{err}
	}
	keys, err := bench.ShapeKeys(leistung, shape.Routes)
	if err != nil {
		return usageError{err}
	}
	shaped, so2 := o, so
	shaped.Leistungen = keys
	so2.Derive = func(config, dir string) (string, error) {
		path, _, err := bench.ShapeConfig(config, dir, shape, leistung, ags)
		return path, err
	}
	var results []bench.ShapeRound
	for i := range rounds {
		r := bench.ShapeRound{Shape: shape}
		base := func() (err error) {
			r.Base, err = load(ctx, out, fmt.Sprintf("round %d of %d: as given", i+1, rounds), &so, o, nil)
			return err
		}
		derived := func() (err error) {
			r.Shaped, err = load(ctx, out, fmt.Sprintf("round %d of %d: shape %s", i+1, rounds, shape), &so2, shaped, nil)
			return err
		}
		if err := inTurn(i, base, derived); err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Fprintln(out, "---")
	bench.WriteShape(out, results)
	return nil
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
