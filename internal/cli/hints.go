package cli

import (
	"fmt"

	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/target"
)

// flags spells the settings libraries name as rdsgate's flags; a test
// checks that each such flag exists.
var flags = cmdline.Flags()

// withHint adds the flags that fix a library's typed error, and spells the
// settings its message names as flags: libraries say what is wrong and
// which setting changes it, the command line says which flag that is.
func withHint(err error) error {
	if err == nil {
		return nil
	}
	return cmdline.Spell(typedHint(err), flags)
}

// typedHint adds the hint for the typed errors whose fix is a flag.
func typedHint(err error) error {
	if region := target.NotFoundRegion(err); region != "" {
		return fmt.Errorf("%w (run `rdsgate ls --region %s`, or pass --region)", err, region)
	}
	return err
}
