// Package kubernetes holds rdsgate's Kubernetes manifests (sidecar/,
// shared/) and Helm chart (chart/rdsgate), and the test that keeps them
// valid: every document decodes strictly into the k8s.io/api types, the
// chart renders the shared manifests, and the flags and probe paths they use
// exist in `rdsgate proxy --help`.
package kubernetes
