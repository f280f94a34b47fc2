package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A project file can come from anyone who can write a directory above the
// working directory (a shared /tmp sub-folder, a cloned repository), so it is
// read only when the file and its directory belong to the user (or root) and
// nobody else can write them — the rule git adopted for safe.directory.

// UnsafeError says why a project file on the walk was refused.
type UnsafeError struct {
	// Path is the file, or the directory holding it, that failed the check.
	Path string
	// File is the project file that was found.
	File string
	// Owner names Path's owner ("uid 65534 (nobody)").
	Owner string
	// Reason says what is wrong: "owned by another user", "group-writable",
	// "world-writable", "not a regular file".
	Reason string
}

func (e *UnsafeError) Error() string {
	what := "project file " + e.File
	if e.Path != e.File {
		what = fmt.Sprintf("project file %s: its directory %s", e.File, e.Path)
	}
	return fmt.Sprintf("refusing %s: %s (owner %s); another user could have written it, so it could send your credentials anywhere. Remove it, or move the project to a directory only you can write",
		what, e.Reason, e.Owner)
}

// FindProject walks up from dir and returns the first .rdsgate.yaml, or ""
// when there is none. The walk stops after home (the user's home directory,
// "" for no such stop), at the filesystem root and where the parent
// directory is on another filesystem. A file that another user (not root)
// owns or could have written, or that sits in such a directory, is an
// *UnsafeError rather than being skipped: the user should know it is there.
func FindProject(dir, home string) (string, error) {
	dir, err := canonical(dir)
	if err != nil {
		return "", fmt.Errorf("find project config: %w", err)
	}
	if home != "" {
		if h, err := canonical(home); err == nil {
			home = h
		}
	}
	var lastDev uint64
	for first := true; ; first = false {
		st, err := os.Stat(dir)
		if err != nil {
			return "", nil // an unreadable directory ends the walk
		}
		if dev, ok := deviceOf(st); ok {
			if !first && dev != lastDev {
				return "", nil // another filesystem: like git, do not cross it
			}
			lastDev = dev
		}
		p := filepath.Join(dir, ProjectFileName)
		if _, err := os.Lstat(p); err == nil {
			if err := CheckProjectFile(p); err != nil {
				return "", err
			}
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil // a directory we may not search ends the walk
		}
		parent := filepath.Dir(dir)
		if dir == home || parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// CheckProjectFile checks that path (after symbolic links) is a regular file
// that it and its directory belong to the user or root and that nobody else
// can write either. On systems without Unix ownership it checks only that
// path is a regular file.
func CheckProjectFile(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("project config %s: %w", path, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("project config %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return &UnsafeError{Path: path, File: path, Owner: ownerName(st), Reason: "not a regular file"}
	}
	if reason := unsafeReason(st); reason != "" {
		return &UnsafeError{Path: path, File: path, Owner: ownerName(st), Reason: reason}
	}
	dir := filepath.Dir(real)
	dst, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("project config %s: %w", path, err)
	}
	if reason := unsafeReason(dst); reason != "" {
		return &UnsafeError{Path: dir, File: path, Owner: ownerName(dst), Reason: reason}
	}
	return nil
}

// canonical is the absolute path with symbolic links resolved, so that the
// home-directory stop and the trust record see one name per file.
func canonical(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}

// ProjectFrom is the project file found upward from wd (stopping at the
// user's home directory), or "" when there is none.
func ProjectFrom(wd string) (string, error) {
	home, _ := os.UserHomeDir()
	return FindProject(wd, home)
}

// LoadFrom is Load with the project file found from wd (ProjectFrom).
func LoadFrom(userPath, wd string, trust *TrustStore) (*Config, error) {
	project, err := ProjectFrom(wd)
	if err != nil {
		return nil, err
	}
	return Load(userPath, project, trust)
}
