package cli

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/iamauth"
)

type tokenFlags struct {
	host   string
	port   int
	user   string
	target string
}

func (a *app) newToken() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "token (--host HOST --port PORT | --target NAME) --user DBUSER",
		Short: "Print an IAM database authentication token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runToken(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "database endpoint host name (the real RDS endpoint, not a tunnel's localhost)")
	fl.IntVar(&f.port, "port", 0, "database port (default: the target's, or 5432/3306 by engine)")
	fl.StringVar(&f.user, "user", "", "database user to sign for (case-sensitive)")
	fl.StringVar(&f.target, "target", "", "look the endpoint up: config entry, instance or cluster id, or endpoint")
	return cmd
}

func (a *app) runToken(ctx context.Context, f tokenFlags) error {
	if f.target == "" && f.host == "" {
		return usagef("pass --host and --port, or --target")
	}
	if h, p, err := net.SplitHostPort(f.host); err == nil && f.port == 0 {
		// Accept host:port in --host, as people paste endpoints that way.
		f.host = h
		if n, err := strconv.Atoi(p); err == nil {
			f.port = n
		}
	}
	if f.target == "" && f.port == 0 {
		return usagef("pass --port with --host (RDS endpoints have no default port in a token)")
	}
	host, port, user := f.host, f.port, f.user
	var cfg aws.Config
	var profile string
	if f.target != "" {
		spec, err := a.pathSpec(f.target, routeFlags{user: f.user})
		if err != nil {
			return err
		}
		// No progress lines: the token is the whole output.
		opts := a.pathOptions()
		opts.Observer = nil
		p, err := a.resolve(ctx, spec, opts)
		if err != nil {
			return err
		}
		t := p.Target
		if !t.IAMAuth {
			a.log.Warn(fmt.Sprintf("IAM database authentication is disabled on %s; the server will refuse this token", t.Identifier),
				"fix", t.EnableIAMAuthCommand())
		}
		host, port, user = cmp.Or(host, t.Host), cmp.Or(port, t.Port), spec.User
		cfg, profile = p.AWS, spec.Profile
		cfg.Region = cmp.Or(t.Region, cfg.Region)
	} else {
		var err error
		if cfg, profile, err = a.loadAWS(ctx); err != nil {
			return err
		}
	}
	if user == "" {
		return usagef("pass --user (the database user to sign for)")
	}
	tok, err := iamauth.Build(ctx, iamauth.Endpoint{Host: host, Port: port, Region: cfg.Region, User: user}, cfg.Credentials, time.Now())
	if err != nil {
		return fmt.Errorf("build token: %w", awsconf.Explain(err, profile))
	}
	a.log.Debug("signed token", "host", host, "port", port, "region", cfg.Region, "user", user, "valid", iamauth.TokenLifetime)
	_, err = fmt.Fprintln(a.stdout, tok)
	return err
}
