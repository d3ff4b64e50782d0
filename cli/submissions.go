package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store"
)

// submissionsCmd finds submissions and shows one, as the admin API does: it reads the store,
// whether the daemon runs or not.
func submissionsCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "submissions",
		Short: "Find submissions and show one with its deliveries and history",
		Long: `Search the submissions of the store named by the configuration, newest first, and show one
with every delivery and event — what the admin API answers (GET /v1/submissions). It works
whether the daemon runs or not.`,
	}
	cmd.PersistentFlags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.AddCommand(submissionsListCmd(&file), submissionsShowCmd(&file))
	return cmd
}

// searchFlags are the flags of submissions list, named as the API's parameters.
var searchFlags = []struct{ name, usage string }{
	{"status", "only submissions in this status (" + strings.Join(store.SubmissionStatuses, ", ") + ")"},
	{"route", "only this route"},
	{"portal", "only this portal"},
	{"leistung", "only this Leistung (LeiKa key)"},
	{"ags", "only this AGS"},
	{"reference", "only this reference (the portal's)"},
	{"id", "only this submission id"},
	{"from", "received at or after: RFC 3339, or YYYY-MM-DD[THH:MM] in the configuration's time_zone"},
	{"to", "received before: as --from; a date means the end of that day"},
	{"after", "the page after this cursor (printed at the end of the previous page)"},
}

func submissionsListCmd(file *string) *cobra.Command {
	values := map[string]*string{}
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--status S] [--route R] [--portal P] [--leistung L] [--ags A] [--reference X] [--from T] [--to T] [--limit N] [--after CURSOR] [--json]",
		Short: "List submissions newest first, a page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for name, v := range values {
				if *v != "" {
					q.Set(name, *v)
				}
			}
			q.Set("limit", fmt.Sprint(limit))
			cfg, st, err := openStoreConfig(*file)
			if err != nil {
				return err
			}
			defer st.Close()
			sq, err := admin.ParseSearchQuery(q, cfg.Location())
			if err != nil {
				var pe *admin.ParamError
				if errors.As(err, &pe) {
					return usageError{fmt.Errorf("--%s", pe.Error())}
				}
				return err
			}
			page, err := admin.Search(cmd.Context(), st, sq)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(page)
			}
			printSubmissions(w, page, cfg.Location())
			if page.Next != "" {
				fmt.Fprintf(w, "next page: %s\n", nextPageCommand(cmd, *file, page.Next))
			}
			return nil
		},
	}
	for _, f := range searchFlags {
		values[f.name] = new(string)
		cmd.Flags().StringVar(values[f.name], f.name, "", f.usage)
	}
	cmd.Flags().IntVar(&limit, "limit", admin.DefaultSearchLimit, fmt.Sprintf("submissions per page (1–%d)", admin.MaxSearchLimit))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the page as the admin API answers it")
	return cmd
}

// printSubmissions prints a page as a table, times in the configuration's zone.
func printSubmissions(w io.Writer, page admin.SearchPage, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RECEIVED (%s)\tID\tSTATUS\tPORTAL\tROUTE\tLEISTUNG\tAGS\tREFERENCE\n", loc)
	for _, s := range page.Submissions {
		status := s.Status
		if s.Purged {
			status += " (purged)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ReceivedAt.In(loc).Format("2006-01-02 15:04:05"), s.ID, status,
			oneLineText(s.Portal), oneLineText(s.Route), oneLineText(s.Leistung), oneLineText(s.AGS), oneLineText(s.Reference))
	}
	tw.Flush()
	more := ""
	if page.Next != "" {
		more = " (more follow)"
	}
	fmt.Fprintf(w, "%d submissions%s\n", len(page.Submissions), more)
}

// nextPageCommand is the command line of the next page: the flags given, with --after.
func nextPageCommand(cmd *cobra.Command, file, next string) string {
	args := []string{"amtsbote", "submissions", "list"}
	if file != config.DefaultFile {
		args = append(args, "--config", shellQuote(file))
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "after" && f.Name != "config" {
			if f.Value.Type() == "bool" {
				args = append(args, "--"+f.Name)
			} else {
				args = append(args, "--"+f.Name, shellQuote(f.Value.String()))
			}
		}
	})
	return strings.Join(append(args, "--after", next), " ")
}

// shellQuote quotes a value for a POSIX shell unless it needs none.
func shellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/+=,@", r))
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func submissionsShowCmd(file *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SUBMISSION-ID [--json]",
		Short: "Show a submission with its deliveries, reply deliveries and every event",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, st, err := openStoreConfig(*file)
			if err != nil {
				return err
			}
			defer st.Close()
			sub, err := st.Submission(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return usageError{fmt.Errorf("no submission %s", args[0])}
			}
			if err != nil {
				return err
			}
			v, err := (&admin.Server{Store: st}).SubmissionDetail(cmd.Context(), sub)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			printSubmission(w, v, cfg.Location())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the submission as the admin API answers it (GET /v1/submissions/{id})")
	return cmd
}

// printSubmission prints a submission's detail as text, times in the configuration's zone.
func printSubmission(w io.Writer, v *admin.SubmissionView, loc *time.Location) {
	at := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05 MST") }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fields := [][2]string{{"Submission", v.ID}, {"Status", v.Status}, {"Portal", v.Portal}, {"Reference", v.Reference},
		{"Leistung", v.Leistung}, {"AGS", v.AGS}}
	if v.ARS != "" {
		fields = append(fields, [2]string{"ARS", v.ARS})
	}
	fields = append(fields, [2]string{"Route", v.Route}, [2]string{"Received", at(v.ReceivedAt)}, [2]string{"Updated", at(v.UpdatedAt)})
	if v.PurgedAt != nil {
		fields = append(fields, [2]string{"Purged", at(*v.PurgedAt) + " (retention deleted the personal data)"})
	}
	for _, f := range fields {
		fmt.Fprintf(tw, "%s\t%s\n", f[0], oneLineText(f[1]))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDeliveries (%d)\n", len(v.Deliveries))
	for _, d := range v.Deliveries {
		fmt.Fprintf(w, "  %s: %s, %d attempts, updated %s\n", d.Destination, d.Status, d.Attempts, at(d.UpdatedAt))
		if d.NextAttemptAt != nil {
			fmt.Fprintf(w, "    next attempt %s\n", at(*d.NextAttemptAt))
		}
		if d.Artefact != "" {
			fmt.Fprintf(w, "    artefact %s\n", d.Artefact)
		}
		if d.RemoteID != "" {
			fmt.Fprintf(w, "    remote id %s\n", d.RemoteID)
		}
		if d.LastError != "" {
			fmt.Fprintf(w, "    last error: %s\n", indentText(d.LastError, "      "))
		}
	}
	if len(v.ReplyDeliveries) > 0 {
		fmt.Fprintf(w, "\nReply deliveries (%d)\n", len(v.ReplyDeliveries))
		for _, d := range v.ReplyDeliveries {
			fmt.Fprintf(w, "  %s over %s: %s, %d attempts, updated %s\n", d.ReplyID, d.Channel, d.Status, d.Attempts, at(d.UpdatedAt))
			if d.LastError != "" {
				fmt.Fprintf(w, "    last error: %s\n", indentText(d.LastError, "      "))
			}
		}
	}
	fmt.Fprintf(w, "\nEvents (%d)\n", len(v.Events))
	for _, e := range v.Events {
		line := at(e.At) + "  " + e.Type
		if e.Destination != "" {
			line += "  " + e.Destination
		}
		fmt.Fprintln(w, "  "+line)
		if e.Detail != "" {
			fmt.Fprintf(w, "    %s\n", indentText(e.Detail, "    "))
		}
	}
}

// indentText indents the lines of a multi-line text after the first.
func indentText(s, indent string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+indent)
}

// openStoreConfig opens the store of a configuration, shared with a daemon that may run, and
// returns the configuration too (its time zone).
func openStoreConfig(file string) (*config.Config, *store.Store, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, nil, usageError{err}
	}
	st, err := store.OpenShared(context.Background(), daemon.StoreOptions(cfg))
	if err != nil {
		return nil, nil, usageError{err}
	}
	return cfg, st, nil
}
