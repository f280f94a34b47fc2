package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/target"
)

// loadConfig reads the user file (--config, RDSGATE_CONFIG or the default
// path) and the project file found upward from the working directory.
func (a *app) loadConfig() (*config.Config, error) {
	userPath := a.g.config
	if userPath == "" {
		userPath = config.UserPath()
	}
	wd, err := a.getwd()
	if err != nil {
		return nil, fmt.Errorf("find project config: %w", err)
	}
	home, _ := os.UserHomeDir()
	project, err := config.FindProject(wd, home)
	if err != nil {
		return nil, err
	}
	return config.Load(userPath, project, a.trustStore())
}

// awsFor loads AWS configuration, preferring flags over what the config
// entry says (profile, region) and both over the SDK's own defaults.
func (a *app) awsFor(ctx context.Context, entry *config.Target) (aws.Config, string, error) {
	var e config.Target
	if entry != nil {
		e = *entry
	}
	profile, region := awsChoice(e, a.g, a.getenv)
	cfg, err := awsconf.Load(ctx, awsconf.Options{Profile: profile, Region: region, Stderr: a.stderr,
		ConfigFiles: a.awsConfigFiles, CredentialsFiles: a.awsCredentialsFiles})
	return cfg, profile, err
}

// resolver finds targets by name, a config entry's or an RDS identifier,
// with cfg's RDS API.
func resolver(cfg aws.Config, c *config.Config) configResolver { return configResolver{cfg, c} }

type configResolver struct {
	cfg aws.Config
	c   *config.Config
}

func (r configResolver) Resolve(ctx context.Context, name string) (target.Target, error) {
	e, _ := r.c.Target(name)
	return dbpath.Resolver(r.cfg, entrySpec(name, e)).Resolve(ctx, name)
}
