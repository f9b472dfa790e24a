//go:build unix

package libchdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDir takes an exclusive lock on the data path. ClickHouse itself does
// not stop a second process from opening the same files, and two writers
// would corrupt each other's parts.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, ".auditlog.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("libchdb: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("libchdb: data path %s is in use by another process (pid %s)", dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("libchdb: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
