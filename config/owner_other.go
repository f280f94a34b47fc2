//go:build !unix

package config

import "io/fs"

// Without Unix ownership the walk checks only that the file is regular; the
// trust record still guards the keys that decide where credentials go.

func deviceOf(fs.FileInfo) (uint64, bool) { return 0, false }

func unsafeReason(fs.FileInfo) string { return "" }

func ownerName(fs.FileInfo) string { return "unknown" }
