// Command rdsgate gives people and programs secure, keyless, audited access
// to RDS and Aurora databases in private AWS networks.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rdsgate/rdsgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
