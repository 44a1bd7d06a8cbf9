//go:build !unix

package settings

import "io/fs"

// fileGroup: files have no owning group here, so group read is never taken for the process's own.
func fileGroup(fs.FileInfo) (gid int, ok bool) { return 0, false }
