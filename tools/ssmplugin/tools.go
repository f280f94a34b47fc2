//go:build tools

// Package ssmplugin only pins the plugin's main package in go.mod.
package ssmplugin

import _ "github.com/aws/session-manager-plugin/src/sessionmanagerplugin-main"
