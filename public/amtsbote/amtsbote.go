// Package amtsbote runs amtsbote's command line from a main package of one's own — the way to
// build amtsbote with adapters from outside this repository:
//
//	package main
//
//	import (
//		"github.com/amtsbote/amtsbote/public/amtsbote"
//
//		_ "example.org/amtsbote-dms" // registers its adapter type in init()
//	)
//
//	func main() { amtsbote.Main() }
//
// The built binary is amtsbote with every adapter of this repository and the imported ones.
package amtsbote

import (
	"io"

	"github.com/amtsbote/amtsbote/cli"
)

// Main runs the command line of os.Args and exits with its exit code.
func Main() { cli.Main() }

// Run executes the command line args and returns the exit code: 0 success, 1 failure, 2 usage
// or configuration error.
func Run(args []string, stdout, stderr io.Writer) int { return cli.Run(args, stdout, stderr) }
