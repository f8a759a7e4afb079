// Package state owns evpnhost's state directory: the names of its files,
// how they are written (atomically, fsynced), how they are read (versioned
// JSON; a missing file is "empty", anything unreadable is an error naming
// the file) and the one lock that serialises the operations changing the
// host.
//
// The directory is /var/lib/evpnhost, /var/lib/evpnhost/<frr-instance>
// with --frr-instance, or what --state-dir (the CNI's "stateDir") names.
// Its files (docs/architecture.md, "State directory"):
//
//	file                 written by                     meaning
//	lock                 every change operation         flock(2): one apply, attach, detach, CNI ADD/DEL at a time
//	owned.json           reconcile (Apply)              the tenants evpnhost owns (removed when gone from the intent)
//	frr-converged.json   reconcile                      hashes of the last FRR config found converged (skips frr-reload.py)
//	intent.json          reconcile (after an apply)     the last intent applied; the CNI and `evpnhost attach` resolve networks from it
//	attachments/<id>.json  CNI ADD/DEL, attach/detach  one run-time attachment each
//	policy-backend       policy enforcement             the backend enforcing the policy (ebpf, nftables); absent when none
//	policy-ebpf.json     eBPF policy backend            counter slots of the rules
//	policy.lock          policy enforcement             flock(2) around one policy generation (taken inside lock)
//	last-good.json       agent                          the last intent the agent applied successfully
//	agent-status.json    agent                          the agent's last status (evpnhost status shows it)
//	docker.json          evpnhost docker-plugin         Docker networks (ID -> tenant/network, mode) and IPAM reservations
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDir is the state directory of the system FRR.
const DefaultDir = "/var/lib/evpnhost"

// The files of the state directory.
const (
	LockFile       = "lock"
	OwnedFile      = "owned.json"
	ConvergedFile  = "frr-converged.json"
	IntentFile     = "intent.json"
	AttachmentsDir = "attachments"
	PolicyBackend  = "policy-backend"
	PolicyEBPFFile = "policy-ebpf.json"
	PolicyLockFile = "policy.lock"
	LastGoodFile   = "last-good.json"
	StatusFile     = "agent-status.json"
	DockerFile     = "docker.json"
)

// Dir is the state directory for an FRR instance ("" = the system FRR),
// unless dir is set.
func Dir(dir, frrInstance string) string {
	if dir != "" {
		return dir
	}
	if frrInstance != "" {
		return filepath.Join(DefaultDir, frrInstance)
	}
	return DefaultDir
}

// FileError is a state file that cannot be read, parsed or written.
type FileError struct {
	Path    string
	Corrupt bool // the file exists but does not parse
	Err     error
}

func (e *FileError) Error() string {
	if e.Corrupt {
		return fmt.Sprintf("state file %s is corrupt: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("state file %s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// IsCorrupt reports whether err is a state file that does not parse.
func IsCorrupt(err error) bool {
	var fe *FileError
	return errors.As(err, &fe) && fe.Corrupt
}

// WriteFile replaces path with b (mode 0600) so that readers, and the
// file after a crash, hold the old or the new content, never a part: a
// temporary file in the same directory is written and fsynced, renamed
// over path, and the directory is fsynced so the rename is durable. The
// directory is created (0700) when missing.
func WriteFile(path string, b []byte) error {
	if err := write(path, b); err != nil {
		return &FileError{Path: path, Err: err}
	}
	return nil
}

func write(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteFileIfChanged is WriteFile unless path already holds exactly b (a
// no-op apply writes nothing); it reports whether it wrote.
func WriteFileIfChanged(path string, b []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	return true, WriteFile(path, b)
}

// Remove removes a state file; a missing one is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &FileError{Path: path, Err: err}
	}
	return nil
}

// MarshalVersioned is v (a struct or map marshalling to a JSON object)
// as indented JSON with a leading "version" field.
func MarshalVersioned(version int, v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("state: %T is not a JSON object", v)
	}
	if _, ok := fields["version"]; ok {
		return nil, fmt.Errorf("state: %T has a field named version", v)
	}
	head := fmt.Sprintf("{\n  \"version\": %d", version)
	if len(fields) == 0 {
		return []byte(head + "\n}\n"), nil
	}
	return append(append([]byte(head+","), b[1:]...), '\n'), nil
}

// WriteJSON writes v with its version (MarshalVersioned) to path
// atomically, unless path holds exactly that already; it reports whether
// it wrote.
func WriteJSON(path string, version int, v any) (bool, error) {
	b, err := MarshalVersioned(version, v)
	if err != nil {
		return false, &FileError{Path: path, Err: err}
	}
	return WriteFileIfChanged(path, b)
}

// ReadJSON reads path into v. A missing file is not an error: found is
// false and v is untouched. A file without a "version" field is a legacy
// (version 0) file of the same shape and is read as such. A file that
// cannot be read, does not parse, or has a version above max (written by
// a newer evpnhost) is an error naming the file.
func ReadJSON(path string, max int, v any) (found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &FileError{Path: path, Err: err}
	}
	return true, DecodeJSON(path, b, max, v)
}

// DecodeJSON is ReadJSON's parsing of b, the content of path.
func DecodeJSON(path string, b []byte, max int, v any) error {
	var h struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return &FileError{Path: path, Corrupt: true, Err: err}
	}
	if h.Version != nil && *h.Version > max {
		return &FileError{Path: path, Err: fmt.Errorf("version %d, this evpnhost reads up to %d (written by a newer evpnhost?)", *h.Version, max)}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &FileError{Path: path, Corrupt: true, Err: err}
	}
	return nil
}
