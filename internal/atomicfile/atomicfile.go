// Package atomicfile writes the small state files of evpnhost (applied
// intent, attachments, agent status, policy state) so that a crash or a
// concurrent reader never sees a partial file, and so that an unchanged
// state causes no write at all (a no-op apply touches nothing).
package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
)

// Write replaces path with b (mode 0600) so that readers see the old or
// the new content, never a part: a synced temporary file in the same
// directory, renamed over path.
func Write(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteIfChanged is Write unless path already holds exactly b; it
// creates path's directory (0700) when missing and reports whether it
// wrote.
func WriteIfChanged(path string, b []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	return true, Write(path, b)
}
