package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// flags spells the settings libraries name in their messages as the flags
// that set them: "pass --ca-bundle FILE" where a library says "pass
// ca_bundle=FILE". Each flag is the setting's name without "route.", with
// dashes (route.ssh_identity is --ssh-identity); a test checks that each
// such flag exists.
var flags = setting.Style{Assign: " ", Names: flagNames()}

func flagNames() map[setting.Name]string {
	names := map[setting.Name]string{}
	for _, n := range setting.All() {
		names[n] = "--" + strings.ReplaceAll(strings.TrimPrefix(string(n), "route."), "_", "-")
	}
	names[setting.Database] = "--db" // every command's name for it
	return names
}

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
	var stopped *bastion.StoppedError
	var adminLogin *grant.LoginError
	switch {
	case errors.As(err, &untrusted):
		return fmt.Errorf("%w. Read it, then run: rdsgate config trust %s", err, untrusted.Path)
	case errors.Is(err, dbpath.ErrNoPasswordSource):
		return cmdline.Usagef("%w in the config file, or --password-secret, --password-env or --password-file", err)
	case errors.Is(err, ssmtunnel.ErrNoBastion):
		return cmdline.Usagef("%w: pass --bastion i-... or --bastion-tag KEY=VALUE, set route.bastion in the config file, or create one: rdsgate bastion create TARGET", err)
	case target.NotFoundRegion(err) != "":
		return fmt.Errorf("%w (run `rdsgate ls --region %s`, or pass --region)", err, target.NotFoundRegion(err))
	case errors.As(err, &stopped):
		return fmt.Errorf("%w: start it (rdsgate bastion start TARGET), or leave out --no-start and rdsgate starts it", err)
	case errors.Is(err, proxy.ErrNonLoopback):
		return fmt.Errorf("%w: pass --allow-non-loopback to accept that", err)
	case errors.As(err, &adminLogin):
		return fmt.Errorf("%w; check the secret (--admin-secret) and the route (rdsgate doctor %s)", err, adminLogin.Target)
	case errors.Is(err, grant.ErrNoMasterSecret):
		return fmt.Errorf("%w: pass --admin-secret ARN of a secret with username and password", err)
	case errors.Is(err, dbpath.ErrEICNeedsBastion):
		return cmdline.Usagef("--ssh-eic needs the bastion's instance: pass --bastion i-... or --bastion-tag KEY=VALUE")
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
