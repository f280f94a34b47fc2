// Package pkgdoc holds no code, only a test: every package of the module
// has a package doc, and each doc is a short statement of what the package
// is for, not an essay.
package pkgdoc
