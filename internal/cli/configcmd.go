package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

func (a *app) newConfig() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Trust or untrust a project's .rdsgate.yaml"}
	c.AddCommand(a.newConfigTrust(), a.newConfigUntrust())
	return c
}

func (a *app) newConfigTrust() *cobra.Command {
	return cmdline.Command("trust [FILE]", "Trust a project file's current content (default: the one found from here)", cobra.MaximumNArgs(1), func(_ context.Context, args []string) error {
		path, err := a.projectArg(args)
		if err != nil {
			return err
		}
		p, err := config.InspectProject(path)
		if err != nil {
			return err
		}
		if err := a.trustStore().Trust(path, p.SHA256, time.Now()); err != nil {
			return err
		}
		if a.g.output == "json" {
			return a.writeJSON(map[string]any{"trusted": path, "sha256": p.SHA256, "settings": p.Settings})
		}
		p.WriteTrusted(a.stdout, path)
		return nil
	})
}

func (a *app) newConfigUntrust() *cobra.Command {
	return cmdline.Command("untrust [FILE]", "Forget the trust given to a project file", cobra.MaximumNArgs(1), func(_ context.Context, args []string) error {
		path, err := a.projectArg(args)
		if err != nil {
			return err
		}
		had, err := a.trustStore().Untrust(path)
		if err != nil {
			return err
		}
		if had {
			fmt.Fprintf(a.stdout, "untrusted %s\n", path)
		} else {
			fmt.Fprintf(a.stdout, "%s was not trusted\n", path)
		}
		return nil
	})
}

// projectArg is the named file, or the project file found from here.
func (a *app) projectArg(args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	wd, err := a.getwd()
	if err != nil {
		return "", err
	}
	p, err := config.ProjectFrom(wd)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", cmdline.Usagef("no %s here or above (up to your home directory): name the file", config.ProjectFileName)
	}
	return p, nil
}

func (a *app) trustStore() *config.TrustStore {
	return &config.TrustStore{Path: config.TrustPath(a.getenv)}
}
