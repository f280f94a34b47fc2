package awsconf

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Profiles lists the profile names of the shared AWS files: configFiles
// and credentialsFiles when given, else AWS_CONFIG_FILE and
// AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials.
// Unreadable files are skipped: the list is for shell completion.
func Profiles(configFiles, credentialsFiles []string) []string {
	home, _ := os.UserHomeDir()
	if len(configFiles) == 0 {
		configFiles = []string{envOr("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))}
	}
	if len(credentialsFiles) == 0 {
		credentialsFiles = []string{envOr("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))}
	}
	var names []string
	for _, f := range configFiles {
		names = append(names, sections(f, true)...)
	}
	for _, f := range credentialsFiles {
		names = append(names, sections(f, false)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// sections are the profile sections of an INI file: in the config file
// "[profile NAME]" (and "[default]"), in the credentials file "[NAME]".
func sections(path string, config bool) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "[") || !strings.HasSuffix(line, "]") {
			continue
		}
		name := strings.TrimSpace(line[1 : len(line)-1])
		if config && name != "default" {
			var ok bool
			if name, ok = strings.CutPrefix(name, "profile "); !ok {
				continue // [sso-session x], [services y]
			}
			name = strings.TrimSpace(name)
		}
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}
