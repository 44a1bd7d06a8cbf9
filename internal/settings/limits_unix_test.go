//go:build unix

package settings

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSizeLimitOfAPipe: a pipe has no size to check before reading (bash's <(...) gives one), so the limit
// holds while reading.
func TestSizeLimitOfAPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		_, _ = w.WriteString("hosts:\n" + strings.Repeat("  # a comment that goes on\n", 100))
	}()
	refused(t, []string{"--inventory", path}, map[string]string{EnvMaxInventoryBytes: "100"}, "more than 100 bytes, over the limit of 100 bytes")
}
