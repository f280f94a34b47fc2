#!/bin/sh
# build.sh OUTPUT — builds Shopify's toxiproxy-server (v2.5.0, pinned in
# go.mod) into OUTPUT. Needs the Go toolchain and the module proxy (or a warm
# module cache); changes nothing outside this directory and OUTPUT.
set -eu
if [ $# -ne 1 ] || [ -z "$1" ]; then echo "usage: $0 OUTPUT" >&2; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
GOFLAGS="${GOFLAGS:-} -mod=mod" GOWORK=off CGO_ENABLED=0 \
	go build -trimpath -o "$1" github.com/Shopify/toxiproxy/v2/cmd/server
