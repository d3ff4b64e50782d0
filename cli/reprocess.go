package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

func reprocessCmd() *cobra.Command {
	var file, status, route, since, as string
	cmd := &cobra.Command{
		Use:   "reprocess [SUBMISSION-ID | --status failed [--route R] [--since T]]",
		Short: "Route, map and validate failed submissions again, after the configuration was fixed",
		Long: `Queue failed submissions for routing, mapping and validation once more. The running daemon
takes them at once (or when it starts) with the configuration it has then: fix the mapping or the
route, reload, then reprocess. The earlier failure stays in each submission's history; the
reprocess is recorded there and in the audit trail. Dead deliveries are not reprocessed but
replayed (amtsbote dlq replay).

--since takes an RFC 3339 time or a duration back from now (e.g. 12h): submissions that failed
at or after it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (status != "") == (len(args) == 1) {
				return usageError{errors.New("name one submission id, or --status failed (optionally with --route and --since)")}
			}
			if status != "" && status != store.StatusFailed {
				return usageError{fmt.Errorf("--status %q: only failed submissions can be reprocessed; dead deliveries are replayed (amtsbote dlq replay)", status)}
			}
			if len(args) == 1 && (route != "" || since != "") {
				return usageError{errors.New("--route and --since select with --status failed, not with a submission id")}
			}
			f := store.FailedFilter{Route: route}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError{err}
				}
				f.Since = t
			}
			st, err := openStore(file)
			if err != nil {
				return err
			}
			defer st.Close()
			ids := args
			if len(args) == 1 {
				sub, err := st.Submission(cmd.Context(), args[0])
				if errors.Is(err, store.ErrNotFound) {
					return usageError{fmt.Errorf("no submission %s", args[0])}
				}
				if err != nil {
					return err
				}
				if sub.Status != store.StatusFailed || !sub.PurgedAt.IsZero() {
					return usageError{fmt.Errorf("submission %s is %s, not failed (or retention purged its data): nothing to reprocess", args[0], sub.Status)}
				}
			} else if ids, err = st.FailedSubmissions(cmd.Context(), f); err != nil {
				return err
			}
			who := as
			if who == "" {
				who = "cli:" + currentUser()
			}
			queued, err := pipeline.Reprocess(cmd.Context(), st, ids, who, time.Now())
			if err != nil {
				return err
			}
			for _, id := range queued {
				fmt.Fprintf(cmd.OutOrStdout(), "reprocessing %s\n", id)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d submissions queued for reprocessing\n", len(queued))
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.Flags().StringVar(&status, "status", "", "select submissions by status (only failed)")
	cmd.Flags().StringVar(&route, "route", "", "only submissions of this route")
	cmd.Flags().StringVar(&since, "since", "", "only submissions that failed at or after this time (RFC 3339, or a duration back from now)")
	cmd.Flags().StringVar(&as, "as", "", "who reprocesses, for the history (default: cli:<user>)")
	return cmd
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time (2026-12-01T18:00:00Z) or a duration (12h)", v)
}
