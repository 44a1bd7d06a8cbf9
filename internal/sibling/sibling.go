package sibling

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Find returns the executable name from the running executable's directory, else from PATH: the copy built
// with this one comes first, so a bin/ directory never mixes with an older install. The error names both
// places it looked.
func Find(name string) (string, error) {
	beside := "the running executable's directory"
	if self, err := os.Executable(); err == nil {
		path := filepath.Join(filepath.Dir(self), name)
		if _, err := exec.LookPath(path); err == nil {
			return path, nil
		}
		beside = path
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("%s is neither at %s (beside this executable) nor on PATH", name, beside)
}
