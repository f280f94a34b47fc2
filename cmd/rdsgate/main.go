// Command rdsgate gives people and programs secure, keyless, audited access
// to RDS and Aurora databases in private AWS networks.
package main

import (
	"context"
	"os"

	"github.com/rdsgate/rdsgate/internal/cli"
)

func main() {
	// Signals are handled in cli: most commands stop on SIGINT/SIGTERM, but
	// `connect` lets Ctrl-C reach the database client it runs.
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
