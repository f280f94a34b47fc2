package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/internal/buildinfo"
)

func (a *app) newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print rdsgate's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := buildinfo.Current()
			if a.g.output == "json" {
				return a.writeJSON(b)
			}
			_, err := fmt.Fprintln(a.stdout, b)
			return err
		},
	}
}
