#!/bin/sh
# build.sh OUTPUT — builds AWS's session-manager-plugin (the reference
# Session Manager client, github.com/aws/session-manager-plugin at the
# version pinned in go.mod) into OUTPUT. It needs the Go toolchain and the
# module proxy (or a warm module cache); it changes nothing outside OUTPUT.
set -eu
if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTPUT" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# The plugin has no go.mod; this module pins its dependencies. -mod=mod lets
# go fill go.sum from the module proxy on a fresh machine.
GOFLAGS="${GOFLAGS:-} -mod=mod" GOWORK=off CGO_ENABLED=0 \
	go build -trimpath -o "$1" github.com/aws/session-manager-plugin/src/sessionmanagerplugin-main
