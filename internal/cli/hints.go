package cli

import (
	"errors"
	"fmt"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// flags spells the settings libraries name in their messages as the flags
// that set them: "pass --ca-bundle FILE" where a library says "pass
// ca_bundle=FILE". A test checks that it covers setting.All and that each
// flag exists.
var flags = setting.Style{Assign: " ", Names: map[setting.Name]string{
	setting.Region:         "--region",
	setting.Profile:        "--profile",
	setting.User:           "--user",
	setting.Database:       "--database",
	setting.CABundle:       "--ca-bundle",
	setting.Via:            "--via",
	setting.Address:        "--address",
	setting.Bastion:        "--bastion",
	setting.BastionTag:     "--bastion-tag",
	setting.SSH:            "--ssh",
	setting.SSHIdentity:    "--ssh-identity",
	setting.SSHKnownHosts:  "--ssh-known-hosts",
	setting.SSHEIC:         "--ssh-eic",
	setting.SSHAcceptNew:   "--ssh-accept-new",
	setting.MaxConnections: "--max-connections",
	setting.LocalCert:      "--local-cert",
	setting.LocalKey:       "--local-key",
	setting.Quit:           "--quitquitquit",
	setting.Privileges:     "--privileges",
	setting.Schema:         "--schema",
	setting.ReadOnly:       "--read-only",
	setting.Apply:          "--apply",
	setting.AttachTo:       "--attach-to",
	setting.Backend:        "--backend",
}}

// withHint adds the flags that fix a library's typed error, and spells the
// settings its message names as flags: libraries say what is wrong and
// which setting changes it, the command line says which flag that is.
func withHint(err error) error {
	if err == nil {
		return nil
	}
	err = typedHint(err)
	return flagged{msg: setting.Render(err, flags), err: err}
}

// typedHint adds the hint for the typed errors whose fix is a flag.
func typedHint(err error) error {
	var untrusted *config.UntrustedError
	switch {
	case errors.As(err, &untrusted):
		return fmt.Errorf("%w. Read it, then run: rdsgate config trust %s", err, untrusted.Path)
	case errors.Is(err, dbpath.ErrNoPasswordSource):
		return usagef("%w in the config file, or --password-secret, --password-env or --password-file", err)
	case errors.Is(err, ssmtunnel.ErrNoBastion):
		return usagef("%w: pass --bastion i-... or --bastion-tag KEY=VALUE, or set route.bastion in the config file", err)
	case target.NotFoundRegion(err) != "":
		return fmt.Errorf("%w (run `rdsgate ls --region %s`, or pass --region)", err, target.NotFoundRegion(err))
	case errors.Is(err, proxy.ErrNonLoopback):
		return fmt.Errorf("%w: pass --allow-non-loopback to accept that", err)
	case errors.Is(err, dbpath.ErrEICNeedsBastion):
		return usagef("--ssh-eic needs the bastion's instance: pass --bastion i-... or --bastion-tag KEY=VALUE")
	}
	return err
}

// flagged is err with the settings in its message spelled as flags; it
// unwraps to err, so errors.Is and errors.As see what they saw before.
type flagged struct {
	msg string
	err error
}

func (e flagged) Error() string { return e.msg }
func (e flagged) Unwrap() error { return e.err }
