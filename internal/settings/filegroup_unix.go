//go:build unix

package settings

import (
	"io/fs"
	"syscall"
)

// fileGroup is the group that owns the file.
func fileGroup(info fs.FileInfo) (gid int, ok bool) {
	stat, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(stat.Gid), true
}
