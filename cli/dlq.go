package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

func dlqCmd() *cobra.Command {
	var file, destination, format string
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: deliveries that gave up — list, show, replay",
		Long: `Work with the dead letters of the store named by the configuration. It works whether the
daemon runs or not; a replay is picked up by the running daemon at once, or when it starts.`,
	}
	cmd.PersistentFlags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.PersistentFlags().StringVar(&destination, "destination", "", "only this destination")
	open := func() (*store.Store, error) { return openStore(file) }
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			defer st.Close()
			all, err := st.DeadLetters(cmd.Context(), destination)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				views := make([]admin.DeadLetterView, 0, len(all))
				for _, dl := range all {
					views = append(views, admin.View(dl))
				}
				return json.NewEncoder(w).Encode(map[string]any{"dead_letters": views})
			}
			for _, dl := range all {
				fmt.Fprintf(w, "%s  %-24s %s  %d attempts  %s\n", dl.SubmissionID, dl.Destination,
					dl.UpdatedAt.Format(time.RFC3339), dl.Attempts, oneLineText(dl.LastError))
			}
			fmt.Fprintf(w, "%d dead letters\n", len(all))
			return nil
		},
	}
	list.Flags().StringVar(&format, "format", "text", "output: text or json")
	show := &cobra.Command{
		Use:   "show SUBMISSION-ID",
		Short: "Show a dead letter with every attempt's time and error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			defer st.Close()
			dests := []string{destination}
			if destination == "" {
				all, err := st.DeadLetters(cmd.Context(), "")
				if err != nil {
					return err
				}
				dests = nil
				for _, dl := range all {
					if dl.SubmissionID == args[0] {
						dests = append(dests, dl.Destination)
					}
				}
			}
			found := false
			for _, d := range dests {
				v, err := admin.Find(cmd.Context(), st, args[0], d)
				if err != nil {
					return err
				}
				if v == nil {
					continue
				}
				found = true
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(v); err != nil {
					return err
				}
			}
			if !found {
				return usageError{fmt.Errorf("no dead letter for submission %s", args[0])}
			}
			return nil
		},
	}
	var all bool
	var as string
	replay := &cobra.Command{
		Use:   "replay [SUBMISSION-ID | --all] [--destination D]",
		Short: "Deliver dead letters again: the same message (same ProzessID), with fresh attempts",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) {
				return usageError{errors.New("name one submission id, or --all (optionally with --destination)")}
			}
			st, err := open()
			if err != nil {
				return err
			}
			defer st.Close()
			dead, err := st.DeadLetters(cmd.Context(), destination)
			if err != nil {
				return err
			}
			var keys []pipeline.DeliveryKey
			for _, dl := range dead {
				if all || dl.SubmissionID == args[0] {
					keys = append(keys, pipeline.DeliveryKey{SubmissionID: dl.SubmissionID, Destination: dl.Destination})
				}
			}
			if len(keys) == 0 {
				return usageError{errors.New("no matching dead letters")}
			}
			who := as
			if who == "" {
				who = "cli:" + currentUser()
			}
			revived, err := pipeline.Replay(cmd.Context(), st, keys, who, time.Now())
			if err != nil {
				return err
			}
			for _, k := range revived {
				fmt.Fprintf(cmd.OutOrStdout(), "replayed %s to %s\n", k.SubmissionID, k.Destination)
			}
			return nil
		},
	}
	replay.Flags().BoolVar(&all, "all", false, "replay every dead letter (of --destination, if given)")
	replay.Flags().StringVar(&as, "as", "", "who replays, for the history (default: cli:<user>)")
	cmd.AddCommand(list, show, replay)
	return cmd
}

// openStore opens the store a configuration names, shared with a daemon that may be running.
func openStore(file string) (*store.Store, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, usageError{err}
	}
	st, err := store.OpenShared(context.Background(), daemon.StoreOptions(cfg))
	if err != nil {
		return nil, usageError{err}
	}
	return st, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func oneLineText(s string) string {
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	b := []rune(s)
	for i, r := range b {
		if r == '\n' || r == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
