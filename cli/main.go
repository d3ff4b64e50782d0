// Package cli is amtsbote's command line: `amtsbote serve` runs the daemon. cmd/amtsbote is
// nothing but Main; a build with additional adapters calls Main from its own main package
// (see public/amtsbote).
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs the command line of os.Args and exits with its exit code.
func Main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}

// Run executes the command line args and returns the exit code: 0 success, 1 failure (for
// validate: some file invalid), 2 usage or configuration error.
func Run(args []string, stdout, stderr io.Writer) int {
	return run(args, stdout, stderr)
}

// run executes the command line and returns the exit code: 0 success, 1 failure (for
// validate: some file invalid), 2 usage or configuration error.
func run(args []string, stdout, stderr io.Writer) int {
	root := rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInvalid), errors.Is(err, errFailed):
		return 1
	}
	fmt.Fprintln(stderr, "amtsbote:", err)
	return exitCode(err)
}

// usageError marks errors in how amtsbote was called or configured (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.Contains(err.Error(), "flag") || strings.Contains(err.Error(), "arg(s)") {
		return 2
	}
	return 1
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "amtsbote",
		Short:         "XÖV message broker: from citizen portals to Fachverfahren and E-Akte",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), validateCmd(), configCmd(), mapCmd(), testCmd(), dlqCmd(), repliesCmd(), reprocessCmd(), submissionsCmd(), migrateStoreCmd(), benchCmd(), fitconnectCmd(), schemaCmd(), paymentCmd(), xtaCmd())
	return root
}
