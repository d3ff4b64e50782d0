package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/mapping/golden"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/snapshot"
)

// errFailed makes a command exit 1 after it has reported what failed.
var errFailed = errors.New("failed")

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration"}
	var file string
	check := &cobra.Command{
		Use:   "check",
		Short: "Load the configuration, routes, mappings, schema sets and code lists and report every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := snapshot.Load(file)
			if err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration has problems:\n%s\n", file, indentLines(err.Error()))
				return errFailed
			}
			defer snap.Close()
			var problems []string
			for _, d := range snap.Config.Destinations {
				a, err := adapters.New(d.Type, d.Options)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: destinations %s: %v", file, d.ID, err))
					continue
				}
				a.Close()
			}
			if len(snap.Config.FitConnect.Subscriptions) > 0 {
				subs, err := fitconnect.Load(snap.Config)
				if err != nil {
					problems = append(problems, err.Error())
				}
				for _, s := range subs {
					s.Close()
				}
				if err := fitconnect.CheckRoutes(snap.Config, snap.Routes); err != nil {
					problems = append(problems, err.Error())
				}
			}
			if _, err := payment.Load(snap.Config); err != nil {
				problems = append(problems, err.Error())
			}
			if len(problems) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration has problems:\n%s\n", file, indentLines(strings.Join(problems, "\n")))
				return errFailed
			}
			for _, w := range snap.Warnings() {
				fmt.Fprintf(cmd.OutOrStdout(), "warning: %s\n", w)
			}
			mappings := map[string]bool{}
			for _, r := range snap.Routes.Routes {
				for _, t := range r.Targets {
					mappings[t.Source] = true
				}
			}
			fc := ""
			if n := len(snap.Config.FitConnect.Subscriptions); n > 0 {
				state := "on"
				if !snap.Config.FitConnect.Enabled {
					state = "off: fitconnect.enabled"
				}
				fc = fmt.Sprintf(", %d FIT-Connect subscription(s), %s", n, state)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d routes, %d mappings, %d schema sets, %d destinations, %d portals%s)\n",
				file, len(snap.Routes.Routes), len(mappings), len(snap.Schemas), len(snap.Config.Destinations), len(snap.Config.Portals), fc)
			return nil
		},
	}
	check.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.AddCommand(check)
	return cmd
}

func indentLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = "  " + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func mapCmd() *cobra.Command {
	var file, routeID, input, outFile, destination string
	cmd := &cobra.Command{
		Use:   "map --input submission.json [--route ID] [--destination D] [--out FILE]",
		Short: "Dry run: map a submission with its route's mappings, print the messages and their validation result",
		Long: `Map a submission (the JSON a portal posts) through its route's mappings without storing or
delivering anything, and validate each message. The route is matched as at intake unless --route
names one. Errors point to the mapping rule (file:line) and the XSD element or JSON path. Exit 1
when the mapping or the validation fails.

With --out, a single message (one target, or --destination) is written to the file exactly as it
is delivered; several go into the directory --out names, one file per destination
(<destination>.xml, .json, .csv). Without it they are printed, several separated by comments,
a CSV in Windows-1252 as UTF-8.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return usageError{errors.New("--input names the submission JSON file")}
			}
			raw, err := os.ReadFile(input)
			if err != nil {
				return usageError{err}
			}
			var in golden.Input
			if err := json.Unmarshal(raw, &in); err != nil {
				return usageError{fmt.Errorf("%s: %w", input, err)}
			}
			in.Route = routeID
			snap, err := snapshot.Load(file)
			if err != nil {
				return usageError{err}
			}
			defer snap.Close()
			route, out, err := golden.MapSubmission(snap, in)
			if err != nil {
				return usageError{err}
			}
			w := cmd.OutOrStdout()
			msgs := out.Select(route, destination)
			describe := func(m golden.Message) string {
				source := "mapping " + m.Target.Mapping
				if m.Target.FormData != nil {
					source = "form data, " + m.Target.Source
				}
				return fmt.Sprintf("route %s, destination %s, %s", route.ID, m.Target.Destination, source)
			}
			switch {
			case outFile != "" && len(msgs) == 1:
				// The message exactly as it is delivered: a well-formed file of its own.
				if err := os.WriteFile(outFile, msgs[0].Content, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", outFile, describe(msgs[0]))
			case outFile != "":
				// Several messages: a directory with one file each.
				if err := os.MkdirAll(outFile, 0o755); err != nil {
					return err
				}
				for _, m := range msgs {
					path := filepath.Join(outFile, m.Target.Destination+messageExtension(m.MediaType))
					if err := os.WriteFile(path, m.Content, 0o644); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", path, describe(m))
				}
			case len(msgs) == 1:
				w.Write(printable(msgs[0].Content, msgs[0].MediaType))
				fmt.Fprintln(w)
			default:
				for _, m := range msgs {
					fmt.Fprintf(w, "<!-- %s -->\n%s\n", describe(m), printable(m.Content, m.MediaType))
				}
			}
			if len(out.Errors) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "invalid:\n%s\n", indentLines(strings.Join(out.Errors, "\n")))
				return errFailed
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "valid: route %s, %d message(s)\n", route.ID, len(out.Messages))
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.Flags().StringVar(&routeID, "route", "", "route id (default: the route that matches the submission)")
	cmd.Flags().StringVar(&input, "input", "", "submission JSON, as a portal posts it")
	cmd.Flags().StringVar(&outFile, "out", "", "write the message to this file as delivered (several messages: into this directory, one file each)")
	cmd.Flags().StringVar(&destination, "destination", "", "only the message for this destination")
	return cmd
}

func testCmd() *cobra.Command {
	var file string
	var update bool
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run golden tests of the mappings: input.json against expected.xml or expected-errors.txt",
		Long: `Run the golden tests under DIR (default: tests/ beside the configuration file). A test is a
directory with input.json (a submission as a portal posts it) and expected.xml (.json, .csv;
expected.<destination>.xml when the route has several targets), or expected-errors.txt when
the mapping must fail. UUIDs and the run's timestamps are compared as {{uuid}}, {{now}} and
{{received}}; XML is compared canonically, JSON indented, CSV as UTF-8 text with LF line ends.
--update rewrites the expectations.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := snapshot.Load(file)
			if err != nil {
				return usageError{err}
			}
			defer snap.Close()
			dir := filepath.Join(filepath.Dir(file), "tests")
			if len(args) == 1 {
				dir = args[0]
			}
			results, err := golden.Run(snap, dir, update)
			if err != nil {
				return usageError{err}
			}
			if golden.Report(cmd.OutOrStdout(), results) > 0 {
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.Flags().BoolVar(&update, "update", false, "rewrite the expected files from the current output")
	return cmd
}

// messageExtension is the file extension of a message of the media type: .xml, .json, .csv.
func messageExtension(mediaType string) string {
	return (&adapters.Package{MediaType: mediaType}).MessageExt()
}

// printable is a message as the terminal shows it: a CSV in Windows-1252 as UTF-8 (--out
// writes it as delivered).
func printable(content []byte, mediaType string) []byte { return golden.Printable(content, mediaType) }
