// Command rootprobe runs inside the unpacked image, as its user, and says
// what a Go program there sees: how many CA roots the system pool has, and
// whether the RDS bundle cache directory is writable.
package main

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
)

func main() {
	out := map[string]any{"uid": os.Getuid()}
	pool, err := x509.SystemCertPool()
	if err != nil {
		out["roots_error"] = err.Error()
	} else {
		//lint:ignore SA1019 a count of the system roots is all we need
		out["roots"] = len(pool.Subjects())
	}
	if dir, err := os.UserCacheDir(); err != nil {
		out["cache_error"] = err.Error()
	} else {
		f := filepath.Join(dir, "rdsgate", "probe")
		if err := os.WriteFile(f, []byte("ok"), 0o600); err != nil {
			out["cache_error"] = err.Error()
		} else {
			out["cache"] = f
			os.Remove(f)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
