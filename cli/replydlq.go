package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// repliesCmd works with the replies of Fachverfahren on their way back to applicants: the dead
// ones, and replaying them.
func repliesCmd() *cobra.Command {
	var file, channel, format, as string
	cmd := &cobra.Command{
		Use:   "replies",
		Short: "Replies to applicants that could not be sent — list, replay",
		Long: `Work with the replies of Fachverfahren whose delivery to the applicant gave up, in the store
named by the configuration. It works whether the daemon runs or not; a replay is picked up by
the running daemon at once, or when it starts.`,
	}
	cmd.PersistentFlags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	open := func() (*store.Store, error) { return openStore(file) }
	dead := &cobra.Command{
		Use:   "dead",
		Short: "List dead reply deliveries, oldest first (channel none: no channel reached the applicant)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			defer st.Close()
			all, err := st.DeadReplies(cmd.Context(), channel)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				views := make([]admin.DeadReplyView, 0, len(all))
				for _, d := range all {
					views = append(views, admin.ReplyView(d))
				}
				return json.NewEncoder(w).Encode(map[string]any{"dead_replies": views})
			}
			for _, d := range all {
				fmt.Fprintf(w, "%s  %-10s %s  %s  %-13s %d attempts  %s\n", d.ReplyID, d.Channel, d.SubmissionID,
					d.UpdatedAt.Format(time.RFC3339), d.Kind, d.Attempts, oneLineText(d.LastError))
			}
			fmt.Fprintf(w, "%d dead replies\n", len(all))
			return nil
		},
	}
	dead.Flags().StringVar(&channel, "channel", "", "only this channel (fitconnect, email, portal, print, none)")
	dead.Flags().StringVar(&format, "format", "text", "output: text or json")
	replay := &cobra.Command{
		Use:   "replay REPLY-ID CHANNEL",
		Short: "Send a dead reply again over its channel, with fresh attempts (channel none: plan its channels again)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			defer st.Close()
			who := as
			if who == "" {
				who = "cli:" + currentUser()
			}
			key := pipeline.ReplyKey{ReplyID: args[0], Channel: args[1]}
			revived, err := pipeline.ReplayReplies(cmd.Context(), st, []pipeline.ReplyKey{key}, who, time.Now())
			if err != nil {
				return err
			}
			if len(revived) == 0 {
				return usageError{fmt.Errorf("reply %s has no dead delivery on channel %s (or retention purged its data)", args[0], args[1])}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed reply %s by %s\n", args[0], args[1])
			return nil
		},
	}
	replay.Flags().StringVar(&as, "as", "", "who replays, for the history (default: cli:<user>)")
	cmd.AddCommand(dead, replay)
	return cmd
}
