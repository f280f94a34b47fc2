package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is where a sandbox writes its client files when no directory
// is given: under the user's cache directory.
func DefaultDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "rdsgate-sandbox")
	}
	return filepath.Join(dir, "rdsgate", "sandbox")
}

// SetBackends sorts backend choices into o: one kind (BackendAuto,
// "installed" or BackendEmbedded) and any number of server URLs.
func (o *Options) SetBackends(values []string) error {
	for _, v := range values {
		if strings.Contains(v, "://") {
			o.BackendURLs = append(o.BackendURLs, v)
			continue
		}
		if o.Backend != "" && o.Backend != v {
			return fmt.Errorf("%q and %q: give one of auto, installed or embedded (and URLs)", o.Backend, v)
		}
		o.Backend = v
	}
	return nil
}

// ApplySpecFile applies the spec in file to o; with file "", the one in
// o.Dir (SpecFileName) if it exists.
func (o *Options) ApplySpecFile(file string) error {
	if file == "" {
		file = filepath.Join(o.Dir, SpecFileName)
		if _, err := os.Stat(file); err != nil {
			return nil
		}
	}
	spec, err := ReadSpec(file)
	if err != nil {
		return err
	}
	spec.Apply(o)
	return nil
}
