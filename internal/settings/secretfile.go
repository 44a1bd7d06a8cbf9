package settings

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// InsecureFileError refuses a file holding a secret that someone besides its owner can change, or read:
// others, or a group the process is not in. Group read is fine in a group of the process's own, as a Kubernetes
// secret mounted with fsGroup is. --allow-insecure-dsn-file turns the refusal into a warning.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
	// Group owns the file: its name, else its id; empty where the platform has no file groups.
	Group string
	// Problems say who may do what: "others can read it", ...
	Problems []string
	// GroupOnly is set when the file's group is its only problem: chgrp fixes it as well as chmod does.
	GroupOnly bool
}

func (e *InsecureFileError) Error() string {
	fix := "chmod 600 " + e.Path + " (or chmod 640 with the file in a group of this process, as Kubernetes' fsGroup does)"
	if e.GroupOnly {
		fix = fmt.Sprintf("chgrp it to a group of this process (%s), or chmod 600 %s", processGroup(), e.Path)
	}
	return fmt.Sprintf("%s has mode %04o and group %s: %s; %s, or accept the risk with --%s or $%s=true",
		e.Path, e.Mode.Perm(), cmp.Or(e.Group, "unknown"), strings.Join(e.Problems, ", "), fix, FlagAllowInsecureDSNFile, EnvAllowInsecureDSNFile)
}

// secretFileProblem is nil when only the owner, and groups the process is in, can read the file and only the
// owner can change it.
func secretFileProblem(path string, info fs.FileInfo) error {
	perm := info.Mode().Perm()
	gid, hasGroup := fileGroup(info)
	var problems []string
	if perm&0o004 != 0 {
		problems = append(problems, "others can read it")
	}
	if perm&0o002 != 0 {
		problems = append(problems, "others can change it")
	}
	if perm&0o020 != 0 {
		problems = append(problems, "its group can change it")
	}
	foreignGroupReads := perm&0o040 != 0 && !(hasGroup && inProcessGroups(gid))
	if foreignGroupReads {
		problems = append(problems, "its group, which this process is not in, can read it")
	}
	if len(problems) == 0 {
		return nil
	}
	e := &InsecureFileError{Path: path, Mode: perm, Problems: problems, GroupOnly: foreignGroupReads && len(problems) == 1 && hasGroup}
	if hasGroup {
		e.Group = groupName(gid)
	}
	return e
}

// inProcessGroups reports whether gid is the process's effective group or one of its supplementary groups
// (where Kubernetes puts fsGroup).
func inProcessGroups(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	groups, err := os.Getgroups()
	return err == nil && slices.Contains(groups, gid)
}

func groupName(gid int) string {
	id := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}

func processGroup() string { return groupName(os.Getegid()) }
