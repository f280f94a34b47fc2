// Command ociimage writes rdsgate's container image as an OCI image layout
// tarball, without a Docker daemon and without a base image: one layer with
// the static binary, the build machine's CA roots (for the AWS APIs), a home
// with the cache directory where the RDS CA bundle is kept, and /etc/passwd
// naming the non-root user the config runs as.
//
//	go run ./ociimage -bin dist/rdsgate_linux_amd64_v1/rdsgate -arch amd64 \
//	    -license LICENSE -tag ghcr.io/rdsgate/rdsgate:v1.2.3 -o dist/rdsgate_image_linux_amd64.tar
//
// podman load, skopeo copy oci-archive:..., and docker load (25+) read it.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: 65532, the "nonroot" of distroless images, so volume
// permissions (fsGroup) carry over from other images.
const (
	uid     = 65532
	home    = "/home/rdsgate"
	binPath = "/usr/local/bin/rdsgate"
	caPath  = "/etc/ssl/certs/ca-certificates.crt"
)

func main() {
	bin := flag.String("bin", "", "the static linux rdsgate binary")
	arch := flag.String("arch", "amd64", "GOARCH of the binary")
	cacerts := flag.String("cacerts", caPath, "PEM bundle of CA roots to ship")
	license := flag.String("license", "LICENSE", "licence file to ship in /usr/share/doc/rdsgate")
	tag := flag.String("tag", "rdsgate:dev", "reference recorded in the index (org.opencontainers.image.ref.name)")
	version := flag.String("version", "dev", "org.opencontainers.image.version label")
	revision := flag.String("revision", "", "org.opencontainers.image.revision label")
	out := flag.String("o", "rdsgate.tar", "OCI layout tarball to write")
	flag.Parse()
	if err := build(*bin, *arch, *cacerts, *license, *tag, *version, *revision, *out); err != nil {
		log.Fatalf("ociimage: %v", err)
	}
}

func build(bin, arch, cacerts, license, tag, version, revision, out string) error {
	// SOURCE_DATE_EPOCH (GoReleaser sets it from the commit) makes the
	// image reproducible; without it, the epoch.
	var created time.Time
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		created = time.Unix(sec, 0).UTC()
	}
	layerTar, err := rootfs(bin, cacerts, license, created)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "rdsgate ociimage", Created: v1.Time{Time: created}}})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{binPath},
		WorkingDir: home,
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"HOME=" + home,
			"SSL_CERT_FILE=" + caPath,
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "rdsgate",
			"org.opencontainers.image.source":   "https://github.com/rdsgate/rdsgate",
			"org.opencontainers.image.licenses": "Apache-2.0",
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.revision": revision,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ociimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}), layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch})); err != nil {
		return err
	}
	return tarDir(dir, out, created)
}

// rootfs is the image's only layer.
func rootfs(bin, cacerts, license string, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	read := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("%s is empty", path)
		}
		return b, nil
	}
	binary, err := read(bin)
	if err != nil {
		return nil, err
	}
	roots, err := read(cacerts)
	if err != nil {
		return nil, err
	}
	lic, err := read(license)
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error {
			return file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nrdsgate:x:%d:%d:rdsgate:%s:/sbin/nologin\n", uid, uid, home))
		},
		func() error { return file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nrdsgate:x:%d:\n", uid)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file(caPath[1:], 0o644, roots) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(home[1:], 0o700, uid) },
		func() error { return dir(home[1:]+"/.cache", 0o700, uid) },
		func() error { return dir(home[1:]+"/.cache/rdsgate", 0o700, uid) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(binPath[1:], 0o755, binary) },
		func() error { return dir("usr/share", 0o755, 0) },
		func() error { return dir("usr/share/doc", 0o755, 0) },
		func() error { return dir("usr/share/doc/rdsgate", 0o755, 0) },
		func() error { return file("usr/share/doc/rdsgate/LICENSE", 0o644, lic) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir writes the OCI layout in dir as one tar file (oci-archive).
func tarDir(dir, out string, mtime time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, ModTime: mtime})
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
