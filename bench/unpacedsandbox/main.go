// Command unpacedsandbox runs `rdsgate sandbox` with its Session Manager
// agent unpaced (sandbox.Options.Unpaced, not a CLI flag), for the
// benchmarks' "ceiling" rows: how fast a client can go when the agent does
// not hold it to AWS's 1 KiB / 1 ms. It writes the same files as the CLI
// (DIR/env, DIR/sandbox.json, DIR/ready last) and runs until SIGINT/SIGTERM.
//
//	unpacedsandbox -dir /tmp/sb [-engine postgres]
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rdsgate/rdsgate/sandbox"
)

func main() {
	dir := flag.String("dir", "", "directory for the client files")
	engines := flag.String("engine", "postgres", "engines, comma-separated: postgres, mysql")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: *dir, Engines: strings.Split(*engines, ","), Unpaced: true})
	if err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
	if err := sb.Close(); err != nil {
		log.Fatal(err)
	}
}
