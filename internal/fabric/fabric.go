// Package fabric keeps fabric-wide intent in etcd: tenants (with their
// networks) defined once for the whole fabric, each host's underlay under
// its name, workloads per host, and the status each host's agent writes
// back. This file is pure: the key layout, composing a host's intent from
// a snapshot of the keys, and validating every host of a snapshot. The
// etcd client lives in store.go.
//
// Layout under the prefix (default /evpnhost):
//
//	PREFIX/tenants/NAME     one api.Tenant (JSON or YAML)
//	PREFIX/hosts/NAME       one api.Host
//	PREFIX/workloads/NAME   the list of api.Workload of host NAME
//	PREFIX/status/NAME      Status, written by host NAME's agent
//
// A host's intent is its host key, every tenant (in name order, so every
// host derives the same automatic L3VNI VLANs) and its workloads.
package fabric

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/evpnhost/evpnhost/api"
)

// DefaultPrefix is where evpnhost keeps its keys unless told otherwise.
const DefaultPrefix = "/evpnhost"

// Kinds of keys.
const (
	KindTenant   = "tenants"
	KindHost     = "hosts"
	KindWorkload = "workloads"
	KindStatus   = "status"
)

// Layout names the keys under one prefix.
type Layout struct{ Prefix string }

// Key is the key of object name of kind.
func (l Layout) Key(kind, name string) string { return l.dir(kind) + name }

func (l Layout) dir(kind string) string { return l.root() + kind + "/" }

func (l Layout) root() string {
	p := strings.TrimRight(l.Prefix, "/")
	if p == "" {
		p = DefaultPrefix
	}
	return p + "/"
}

// Parse splits a key into kind and name; ok is false for keys that are
// not ours.
func (l Layout) Parse(key string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, l.root())
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	switch kind {
	case KindTenant, KindHost, KindWorkload, KindStatus:
		return kind, name, true
	}
	return "", "", false
}

// Value is one stored key.
type Value struct {
	Data        []byte
	ModRevision int64
}

// Snapshot is a consistent read of every key under the prefix.
type Snapshot struct {
	Layout   Layout
	Revision int64            // etcd revision of the read
	Values   map[string]Value // by full key
}

// names lists the object names of kind, sorted.
func (s *Snapshot) names(kind string) []string {
	var out []string
	for k := range s.Values {
		if kd, name, ok := s.Layout.Parse(k); ok && kd == kind {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Hosts are the hosts that have a host key.
func (s *Snapshot) Hosts() []string { return s.names(KindHost) }

// Tenants are the stored tenant names.
func (s *Snapshot) Tenants() []string { return s.names(KindTenant) }

// HostIntent composes host's intent. rev is the newest modification
// revision among its inputs (every tenant, its host and workloads keys):
// an agent that applied a snapshot at or after rev is converged. The
// error is a *api.ValidationError whose paths name the etcd keys when a
// stored value does not decode, and the intent's own paths when the
// composed intent is invalid.
func (s *Snapshot) HostIntent(host string) (in *api.Intent, rev int64, err error) {
	in = &api.Intent{}
	var problems []api.FieldError
	hostKey := s.Layout.Key(KindHost, host)
	hv, ok := s.Values[hostKey]
	if !ok {
		return nil, 0, &api.ValidationError{Problems: []api.FieldError{{Path: hostKey, Msg: "no such key: host " + quote(host) + " is not in the fabric"}}}
	}
	rev = hv.ModRevision
	// Every value is bounded like an intent file, and so is their sum.
	total := len(hv.Data)
	if err := api.CheckSize("the value", len(hv.Data)); err != nil {
		problems = append(problems, api.FieldError{Path: hostKey, Msg: err.Error()})
	} else if err := decodeStrict(hv.Data, &in.Host); err != nil {
		problems = append(problems, api.FieldError{Path: hostKey, Msg: err.Error()})
	} else if in.Host.Name != host {
		problems = append(problems, api.FieldError{Path: hostKey, Msg: fmt.Sprintf("host.name is %s, the key names %s", quote(in.Host.Name), quote(host))})
	}
	for _, name := range s.Tenants() {
		key := s.Layout.Key(KindTenant, name)
		v := s.Values[key]
		rev = max(rev, v.ModRevision)
		total += len(v.Data)
		var t api.Tenant
		if err := api.CheckSize("the value", len(v.Data)); err != nil {
			problems = append(problems, api.FieldError{Path: key, Msg: err.Error()})
			continue
		}
		if err := decodeStrict(v.Data, &t); err != nil {
			problems = append(problems, api.FieldError{Path: key, Msg: err.Error()})
			continue
		}
		if t.Name != name {
			problems = append(problems, api.FieldError{Path: key, Msg: fmt.Sprintf("name is %s, the key names %s", quote(t.Name), quote(name))})
			continue
		}
		in.Tenants = append(in.Tenants, t)
	}
	wkey := s.Layout.Key(KindWorkload, host)
	if v, ok := s.Values[wkey]; ok {
		rev = max(rev, v.ModRevision)
		total += len(v.Data)
		if err := api.CheckSize("the value", len(v.Data)); err != nil {
			problems = append(problems, api.FieldError{Path: wkey, Msg: err.Error()})
		} else if err := decodeStrict(v.Data, &in.Workloads); err != nil {
			problems = append(problems, api.FieldError{Path: wkey, Msg: err.Error()})
		}
	}
	if err := api.CheckSize("host "+quote(host)+"'s intent (its host, tenants and workloads values)", total); err != nil && len(problems) == 0 {
		problems = append(problems, api.FieldError{Path: hostKey, Msg: err.Error()})
	}
	if len(problems) > 0 {
		return nil, rev, &api.ValidationError{Problems: problems}
	}
	if err := in.Validate(); err != nil {
		return nil, rev, err
	}
	return in, rev, nil
}

// Validate composes and validates every host's intent, and checks what
// a per-host validation cannot see: keys the layout does not know,
// workloads of hosts that have no host key, and VTEPs, router IDs and
// names that two hosts share. The result maps host (or key, for stray
// keys) to its error; empty means the whole fabric is valid.
func (s *Snapshot) Validate() map[string]error {
	bad := map[string]error{}
	vteps := map[string]string{}
	for _, h := range s.Hosts() {
		in, _, err := s.HostIntent(h)
		if err != nil {
			bad[h] = err
			continue
		}
		if other, dup := vteps[in.Host.VTEP]; dup {
			bad[h] = &api.ValidationError{Problems: []api.FieldError{{Path: "host.vtep", Msg: fmt.Sprintf("%s is also the VTEP of host %s", in.Host.VTEP, quote(other))}}}
			continue
		}
		vteps[in.Host.VTEP] = h
	}
	for _, h := range s.names(KindWorkload) {
		if _, ok := s.Values[s.Layout.Key(KindHost, h)]; !ok {
			key := s.Layout.Key(KindWorkload, h)
			bad[key] = &api.ValidationError{Problems: []api.FieldError{{Path: key, Msg: "workloads of a host that is not in the fabric"}}}
		}
	}
	for k := range s.Values {
		if _, _, ok := s.Layout.Parse(k); !ok {
			bad[k] = &api.ValidationError{Problems: []api.FieldError{{Path: k, Msg: "not a key evpnhost knows (tenants/, hosts/, workloads/, status/)"}}}
		}
	}
	return bad
}

// Status is what an agent writes back under PREFIX/status/HOST.
type Status struct {
	Host string `json:"host"`
	// AppliedRevision is the etcd revision of the snapshot last applied
	// successfully; 0 before the first success.
	AppliedRevision int64 `json:"appliedRevision"`
	// Source is where the applied intent came from: "etcd", or "cache"
	// (the last good intent kept on disk, used while etcd is unreachable).
	Source      string        `json:"source"`
	LastSuccess time.Time     `json:"lastSuccess,omitzero"`
	LastAttempt time.Time     `json:"lastAttempt,omitzero"`
	Errors      []ObjectError `json:"errors,omitempty"`
	// Agent is the agent's version and process start time, so a restart
	// shows.
	Agent string `json:"agent,omitempty"`
}

// ObjectError is one failure, named by the object it concerns: an etcd
// key, an intent path (tenants[0].networks[1].vni), a workload or a step.
type ObjectError struct {
	Object string `json:"object"`
	Error  string `json:"error"`
}

// Converged reports whether the status shows the host at rev or later
// with no errors.
func (st Status) Converged(rev int64) bool {
	return len(st.Errors) == 0 && st.AppliedRevision >= rev && st.AppliedRevision > 0
}

// ObjectErrors splits err into per-object errors: one per problem of a
// *api.ValidationError, otherwise one for object.
func ObjectErrors(object string, err error) []ObjectError {
	if err == nil {
		return nil
	}
	var ve *api.ValidationError
	if errors.As(err, &ve) {
		out := make([]ObjectError, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			out = append(out, ObjectError{Object: p.Path, Error: p.Msg})
		}
		return out
	}
	return []ObjectError{{Object: object, Error: err.Error()}}
}

// decodeStrict decodes one YAML (or JSON) value, rejecting unknown fields.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty value")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("cannot decode: %s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; "))
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// Root is the prefix with its trailing slash: every key is under it.
func (l Layout) Root() string { return l.root() }
