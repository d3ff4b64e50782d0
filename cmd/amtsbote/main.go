// Command amtsbote is the XÖV message broker: `amtsbote serve` runs the daemon.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "amtsbote:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks errors in how amtsbote was called or configured (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
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
	root.AddCommand(serveCmd())
	return root
}
