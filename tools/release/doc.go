// Package release is the tool module of rdsgate's release: it pins
// GoReleaser and cyclonedx-gomod (go tool ...), and holds the programs the
// release runs beside them (manpages, ociimage) and the release test
// (go test -tags release), so the main module grows none of their
// dependencies.
package release
