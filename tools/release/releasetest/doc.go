// Package releasetest checks what `make release-snapshot` (or
// .ci/release-snapshot --ci) wrote to bin/dist; its test runs only with
// -tags release and RDSGATE_RELEASE_DIST set.
package releasetest
