package testharness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// SessionManagerPluginVersion is the github.com/aws/session-manager-plugin
// module version tools/ssmplugin builds (keep in step with its go.mod).
const SessionManagerPluginVersion = "v0.0.0-20260401221635-b79d06c1d3a2"

var (
	pluginOnce sync.Once
	pluginBin  string
	pluginErr  error
)

// SessionManagerPlugin returns the path of AWS's session-manager-plugin,
// built once per machine with tools/ssmplugin/build.sh (about 35 s) and
// cached in the temp dir by version. A build that cannot fetch its modules
// makes the test skip (or fail under RDSGATE_REQUIRE_PEERS=1).
func SessionManagerPlugin(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "rdsgate-ssmplugin-"+SessionManagerPluginVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
		bin := filepath.Join(dir, "session-manager-plugin")
		if fi, err := os.Stat(bin); err == nil && fi.Mode()&0o111 != 0 {
			pluginBin = bin
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			pluginErr = err
			return
		}
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "tools", "ssmplugin", "build.sh")
		tmp := bin + ".tmp"
		out, err := exec.Command("sh", script, tmp).CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("%v: %s", err, out)
			return
		}
		pluginErr = os.Rename(tmp, bin)
		pluginBin = bin
	})
	if pluginErr != nil {
		testpeer.Missing(t, "session-manager-plugin", "tools/ssmplugin/build.sh needs the Go module proxy or a warm module cache: "+pluginErr.Error())
	}
	return pluginBin
}
