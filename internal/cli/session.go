package cli

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
)

// loadConfig reads the user file (--config, RDSGATE_CONFIG or the default
// path) and the project file found upward from the working directory, once
// per invocation and user file: the spec, the path's options and the AWS
// defaults all ask for it.
func (a *app) loadConfig() (*config.Config, error) {
	userPath := a.g.config
	if userPath == "" {
		userPath = config.UserPath()
	}
	if a.conf != nil && a.confPath == userPath {
		return a.conf, nil
	}
	wd, err := a.getwd()
	if err != nil {
		return nil, fmt.Errorf("find project config: %w", err)
	}
	c, err := config.LoadFrom(userPath, wd, a.trustStore())
	if err == nil {
		a.conf, a.confPath = c, userPath
	}
	return c, err
}

// loadAWS loads the AWS configuration the global flags (then the config
// files' defaults) ask for, for commands about an account rather than one
// target, and checks that credentials are there. It returns the profile
// chosen too.
func (a *app) loadAWS(ctx context.Context) (aws.Config, string, error) {
	var d config.Target // the config files' defaults, as for any target
	if c, err := a.loadConfig(); err == nil {
		d.Region, d.Profile = c.Defaults.Region, c.Defaults.Profile
	}
	s, _ := dbpath.Merge("", d, dbpath.Override{Profile: a.g.profile, Region: a.g.region}, a.getenv)
	cfg, err := dbpath.LoadAWS(ctx, s, a.pathOptions())
	return cfg, s.Profile, err
}
