package durable

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
)

// File is a file being written in place of path: it appears there, complete, only on Commit (fsync'ed,
// renamed into place, the directory fsync'ed); after a crash or an Abort, path holds what it held before.
// Writes are buffered.
type File struct {
	*bufio.Writer
	tmp  *os.File
	path string
}

// Create starts replacing path with a file of mode perm.
func Create(path string, perm os.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &File{Writer: bufio.NewWriterSize(tmp, 1<<16), tmp: tmp, path: path}, nil
}

// Commit makes the file durable at its path.
func (f *File) Commit() error {
	err := errors.Join(f.Flush(), f.tmp.Sync(), f.tmp.Close())
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort drops what was written.
func (f *File) Abort() {
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}
