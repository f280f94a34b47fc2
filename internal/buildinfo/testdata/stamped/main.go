// Command stamped prints buildinfo.Current as JSON; the package's test
// builds it with -ldflags -X to prove the stamped variables exist.
package main

import (
	"encoding/json"
	"os"

	"github.com/rdsgate/rdsgate/internal/buildinfo"
)

func main() {
	if err := json.NewEncoder(os.Stdout).Encode(buildinfo.Current()); err != nil {
		os.Exit(1)
	}
}
