//go:build unix

package config

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// deviceOf is the filesystem a file lives on.
func deviceOf(st fs.FileInfo) (uint64, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(s.Dev), true
}

// unsafeReason says why another user could have written st, or "".
func unsafeReason(st fs.FileInfo) string {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if uid := int(s.Uid); uid != os.Getuid() && uid != 0 {
		return "owned by another user"
	}
	perm := st.Mode().Perm()
	if perm&0o002 != 0 {
		return "world-writable"
	}
	if perm&0o020 != 0 && !privateGroup(int(s.Gid)) {
		return "group-writable"
	}
	return ""
}

// privateGroup reports whether gid is the user's own group (the user's
// primary group, named after the user, as Debian and Ubuntu create them):
// group write there lets in nobody else, so a umask of 002 is no fault.
func privateGroup(gid int) bool {
	if gid != os.Getgid() {
		return false
	}
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		return false
	}
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	return err == nil && g.Name == u.Username
}

// ownerName is "uid N (name)" for messages.
func ownerName(st fs.FileInfo) string {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	id := strconv.Itoa(int(s.Uid))
	if u, err := user.LookupId(id); err == nil {
		return "uid " + id + " (" + u.Username + ")"
	}
	return "uid " + id
}
