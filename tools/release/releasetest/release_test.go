//go:build release

package releasetest

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func dist(t *testing.T) string {
	t.Helper()
	d := os.Getenv("RDSGATE_RELEASE_DIST")
	if d == "" {
		t.Fatal("RDSGATE_RELEASE_DIST is not set: run .ci/release-snapshot --ci")
	}
	return d
}

func one(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dist(t), pattern))
	if len(m) != 1 {
		t.Fatalf("want one %s in %s, got %q", pattern, dist(t), m)
	}
	return m[0]
}

// headCommit is the commit the release was built from.
func headCommit(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", filepath.Join(dist(t), "..", ".."), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	return strings.TrimSpace(string(out))
}

type versionInfo struct {
	Version, Commit, Date, Platform string
}

func runVersion(t *testing.T, cmd *exec.Cmd) versionInfo {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s: %q: %v", cmd, out, err)
	}
	return v
}

func checkStamp(t *testing.T, where string, v versionInfo) {
	t.Helper()
	if want := headCommit(t); v.Commit != want {
		t.Errorf("%s: commit %q, want %q", where, v.Commit, want)
	}
	if !strings.HasPrefix(v.Version, "v") || v.Version == "dev" || v.Date == "" || strings.HasPrefix(v.Date, "0001") {
		t.Errorf("%s: version %q date %q: not stamped", where, v.Version, v.Date)
	}
}

func TestChecksums(t *testing.T) {
	f, err := os.Open(filepath.Join(dist(t), "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("checksums.txt line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(dist(t), name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, checksums.txt says %s", name, got, sum)
		}
		listed[name] = true
	}
	for _, pattern := range []string{"*.tar.gz", "*.zip", "*.deb", "*.rpm", "*_image_linux_*.tar"} {
		m, _ := filepath.Glob(filepath.Join(dist(t), pattern))
		for _, p := range m {
			if !listed[filepath.Base(p)] {
				t.Errorf("%s is not in checksums.txt", filepath.Base(p))
			}
		}
	}
	if len(listed) < 4 {
		t.Errorf("checksums.txt lists %d files", len(listed))
	}
}

// extract unpacks a .tar.gz (or a gzip-compressed layer) into dir.
func extract(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode).Perm()|os.FileMode(h.Mode)&os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode))
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode&0o777)); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
		os.Lchown(p, h.Uid, h.Gid)
	}
}

func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func TestLinuxArchive(t *testing.T) {
	archive := one(t, "rdsgate_*_linux_amd64.tar.gz")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	extract(t, f, dir)
	for _, want := range []string{"rdsgate", "README.md", "LICENSE", "completions/rdsgate.bash", "completions/rdsgate.zsh", "completions/rdsgate.fish", "man/rdsgate.1", "man/rdsgate-proxy.1"} {
		if fi, err := os.Stat(filepath.Join(dir, want)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: no %s (%v)", filepath.Base(archive), want, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "LICENSE")); !bytes.Contains(b, []byte("Apache License")) {
		t.Error("LICENSE is not the Apache licence")
	}
	v := runVersion(t, exec.Command(filepath.Join(dir, "rdsgate"), "version", "-o", "json"))
	checkStamp(t, "archive", v)
	if v.Platform != "linux/amd64" {
		t.Errorf("platform %q", v.Platform)
	}
}

// TestFullMatrix checks that `make release-snapshot` made every platform's
// artifacts. CI builds linux/amd64 only and says so with
// RDSGATE_RELEASE_MATRIX=linux-amd64, which skips this test.
func TestFullMatrix(t *testing.T) {
	if os.Getenv("RDSGATE_RELEASE_MATRIX") == "linux-amd64" {
		t.Skip("linux/amd64 only (.ci/release-snapshot --ci)")
	}
	want := []string{"checksums.txt", "homebrew/Formula/rdsgate.rb"}
	for _, arch := range []string{"amd64", "arm64"} {
		for _, goos := range []string{"linux", "darwin"} {
			want = append(want, "rdsgate_*_"+goos+"_"+arch+".tar.gz")
		}
		want = append(want, "rdsgate_*_windows_"+arch+".zip", "rdsgate_*_image_linux_"+arch+".tar", "rdsgate_*_"+arch+".deb")
		for _, goos := range []string{"linux", "darwin", "windows"} {
			want = append(want, "rdsgate_*_"+goos+"_"+arch+".cdx.json")
		}
	}
	want = append(want, "rdsgate-*.x86_64.rpm", "rdsgate-*.aarch64.rpm")
	sums := string(mustRead(t, filepath.Join(dist(t), "checksums.txt")))
	for _, pattern := range want {
		name := filepath.Base(one(t, pattern))
		if strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".rb") {
			continue
		}
		if !strings.Contains(sums, "  "+name+"\n") {
			t.Errorf("checksums.txt does not list %s", name)
		}
	}
}

func TestOtherArchivesCarryTheFiles(t *testing.T) {
	zips, _ := filepath.Glob(filepath.Join(dist(t), "*_windows_*.zip"))
	for _, z := range zips {
		r, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, f := range r.File {
			names[f.Name] = true
		}
		r.Close()
		for _, want := range []string{"rdsgate.exe", "LICENSE", "README.md", "man/rdsgate.1"} {
			if !names[want] {
				t.Errorf("%s: no %s", filepath.Base(z), want)
			}
		}
	}
}

func TestSBOM(t *testing.T) {
	b, err := os.ReadFile(one(t, "rdsgate_*_linux_amd64.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range bom.Components {
		found = found || c.Name == "github.com/spf13/cobra"
	}
	if bom.BOMFormat != "CycloneDX" || !found {
		t.Errorf("SBOM: format %q, %d components, cobra listed: %v", bom.BOMFormat, len(bom.Components), found)
	}
}

func TestHomebrewFormula(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(dist(t), "homebrew", "Formula", "rdsgate.rb"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mustRead(t, one(t, "rdsgate_*_linux_amd64.tar.gz")))
	for _, want := range []string{`license "Apache-2.0"`, hex.EncodeToString(sum[:]), `man1.install`, `bash_completion.install`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("formula lacks %s:\n%s", want, b)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDebInstalls(t *testing.T) {
	deb := one(t, "rdsgate_*_amd64.deb")
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("no dpkg")
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	cmd := exec.Command("dpkg", "--root="+root, "--log=/dev/null", "--force-not-root", "--force-script-chrootless", "-i", deb)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	for _, want := range []string{"usr/share/doc/rdsgate/LICENSE", "usr/share/man/man1/rdsgate-proxy.1", "usr/share/bash-completion/completions/rdsgate"} {
		if _, err := os.Stat(filepath.Join(root, want)); err != nil {
			t.Errorf("the .deb installs no /%s", want)
		}
	}
	checkStamp(t, ".deb", runVersion(t, exec.Command(filepath.Join(root, "usr/bin/rdsgate"), "version", "-o", "json")))
	if b := mustRead(t, one(t, "rdsgate-*.x86_64.rpm")); !bytes.HasPrefix(b, []byte{0xed, 0xab, 0xee, 0xdb}) {
		t.Error("the .rpm is not an RPM file")
	}
}

// ociBlob reads a blob of the image layout in dir by digest.
func ociBlob(t *testing.T, dir, digest string) []byte {
	t.Helper()
	algo, hexsum, _ := strings.Cut(digest, ":")
	return mustRead(t, filepath.Join(dir, "blobs", algo, hexsum))
}

func TestImageRunsAsNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	image := one(t, "rdsgate_*_image_linux_amd64.tar")
	layoutDir := t.TempDir()
	if out, err := exec.Command("tar", "-xf", image, "-C", layoutDir).CombinedOutput(); err != nil {
		t.Fatalf("untar: %v %s", err, out)
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	json.Unmarshal(mustRead(t, filepath.Join(layoutDir, "index.json")), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json: %d manifests", len(index.Manifests))
	}
	var manifest struct {
		MediaType string
		Config    struct{ Digest string }
		Layers    []struct{ Digest, MediaType string }
	}
	json.Unmarshal(ociBlob(t, layoutDir, index.Manifests[0].Digest), &manifest)
	var config struct {
		Architecture, OS string
		Config           struct {
			User       string
			Entrypoint []string
			Env        []string
		} `json:"config"`
	}
	json.Unmarshal(ociBlob(t, layoutDir, manifest.Config.Digest), &config)
	if manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" || config.OS != "linux" || config.Architecture != "amd64" {
		t.Errorf("manifest %q, platform %s/%s", manifest.MediaType, config.OS, config.Architecture)
	}
	if config.Config.User != "65532:65532" || len(config.Config.Entrypoint) != 1 {
		t.Fatalf("config user %q entrypoint %q", config.Config.User, config.Config.Entrypoint)
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for _, l := range manifest.Layers {
		// Each layer's digest is checked before it is unpacked.
		b := ociBlob(t, layoutDir, l.Digest)
		if sum := sha256.Sum256(b); "sha256:"+hex.EncodeToString(sum[:]) != l.Digest {
			t.Fatalf("layer %s does not match its digest", l.Digest)
		}
		extract(t, bytes.NewReader(b), root)
	}
	if !bytes.Contains(mustRead(t, filepath.Join(root, "etc/passwd")), []byte(":65532:65532:")) {
		t.Error("/etc/passwd does not name the image's user")
	}
	// A probe beside the binary: a Go program sees the same CA roots and
	// cache directory rdsgate does.
	probe := filepath.Join(root, "tmp", "rootprobe")
	build := exec.Command("go", "build", "-o", probe, "./testdata/rootprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	os.Chmod(probe, 0o755)
	inImage := func(args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Path = args[0]
		cmd.Dir = "/"
		cmd.Env = config.Config.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		return cmd
	}
	checkStamp(t, "image", runVersion(t, inImage(append(config.Config.Entrypoint, "version", "-o", "json")...)))
	var seen struct {
		UID        int    `json:"uid"`
		Roots      int    `json:"roots"`
		RootsError string `json:"roots_error"`
		Cache      string `json:"cache"`
		CacheError string `json:"cache_error"`
	}
	out, err := inImage("/tmp/rootprobe").Output()
	if err != nil || json.Unmarshal(out, &seen) != nil {
		t.Fatalf("probe: %v %q", err, out)
	}
	if seen.UID != 65532 || seen.Roots < 10 || seen.Cache == "" {
		t.Errorf("in the image: uid %d, %d CA roots (%s), cache %q (%s)", seen.UID, seen.Roots, seen.RootsError, seen.Cache, seen.CacheError)
	}
}
