// Command amtsbote is the XÖV message broker: `amtsbote serve` runs the daemon.
package main

import "github.com/amtsbote/amtsbote/cli"

func main() {
	cli.Main()
}
