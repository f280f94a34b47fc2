package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/internal/buildinfo"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

func (a *app) newVersion() *cobra.Command {
	return cmdline.Command("version", "Print rdsgate's version, commit and Go version", cobra.NoArgs, func(context.Context, []string) error {
		b := buildinfo.Current()
		if a.g.output == "json" {
			return a.writeJSON(b)
		}
		_, err := fmt.Fprintln(a.stdout, b)
		return err
	})
}
