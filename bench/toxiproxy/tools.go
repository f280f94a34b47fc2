//go:build tools

// Package toxiproxy only pins Shopify's toxiproxy server in go.mod; build.sh
// builds its toxiproxy-server command, the benchmarks' latency injector.
package toxiproxy

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
