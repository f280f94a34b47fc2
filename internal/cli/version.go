package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/internal/buildinfo"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

func (a *app) newVersion() *cobra.Command {
	return cmdline.Command("version", "Print rdsgate's version, commit and Go version", cobra.NoArgs, func(context.Context, []string) error {
		b := buildinfo.Current()
		return a.show(b, func(w io.Writer) error { _, err := fmt.Fprintln(w, b); return err })
	})
}
