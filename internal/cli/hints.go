package cli

import (
	"fmt"
	"strings"

	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
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
	if region := target.NotFoundRegion(err); region != "" {
		return fmt.Errorf("%w (run `rdsgate ls --region %s`, or pass --region)", err, region)
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
