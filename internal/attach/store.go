// Package attach records the workloads attached at run time, by the CNI
// plugin (evpnhost-cni) or by `evpnhost attach` (VM taps), so that every
// reconcile keeps them (a reconcile detaches bridge ports it does not
// know), they survive an evpnhost restart, and a rebooted host is
// reconciled from them. It also holds the fast path that attaches or
// detaches one workload without an FRR reload (Converge).
//
// Layout, in the state directory of evpnhost (/var/lib/evpnhost, or
// /var/lib/evpnhost/<frr-instance>):
//
//	lock                        flock(2) around every change (state.Lock)
//	intent.json                 the last intent applied (written by reconcile)
//	attachments/                0700
//	attachments/<id>.json       one attachment, 0600, versioned JSON written
//	                            atomically (state.WriteJSON)
//
// (internal/state owns the directory and lists all its files.)
package attach

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/state"
)

// Owners of attachments.
const (
	OwnerCNI    = "cni"
	OwnerAttach = "attach"
	OwnerDocker = "docker"
)

// Modes of attachments.
const (
	ModeBridged = "bridged"
	ModeRouted  = "routed"
)

// Attachment is one workload attached at run time.
type Attachment struct {
	ID        string   `json:"id"`
	Owner     string   `json:"owner"`   // "cni", "attach" or "docker"
	Network   string   `json:"network"` // "tenant/network"
	Mode      string   `json:"mode"`    // "bridged" or "routed"
	Interface string   `json:"interface"`
	MAC       string   `json:"mac,omitempty"` // the workload's MAC (container or VM side)
	IPs       []string `json:"ips,omitempty"`
	// Name is the workload's name for policy selectors
	// (tenant/network/NAME): the Docker container's name.
	Name string `json:"name,omitempty"`
	// CNI only.
	ContainerID string `json:"containerID,omitempty"`
	IfName      string `json:"ifName,omitempty"`
	Netns       string `json:"netns,omitempty"`
	CNINetwork  string `json:"cniNetwork,omitempty"` // the CNI config's name: GC is scoped to it
	Created     string `json:"created,omitempty"`    // RFC 3339
	// Docker only (evpnhost docker-plugin).
	DockerNetwork string `json:"dockerNetwork,omitempty"` // Docker's network ID
	EndpointID    string `json:"endpointID,omitempty"`    // Docker's endpoint ID
	Sandbox       string `json:"sandbox,omitempty"`       // the container's netns path (SandboxKey) once joined
	Peer          string `json:"peer,omitempty"`          // the container end's name in the host namespace before Docker moves it
}

// Addrs are the parsed addresses.
func (a Attachment) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, s := range a.IPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// Plan is the attachment as the planner sees it.
func (a Attachment) Plan() plan.Attachment {
	pa := plan.Attachment{Network: a.Network, Interface: a.Interface, MAC: a.MAC, IPs: a.Addrs(), Routed: a.Mode == ModeRouted}
	if a.Owner == OwnerDocker && a.Name != "" {
		pa.Name = api.DockerPrefix + a.Name // selected as tenant/network/docker:NAME
	}
	return pa
}

// PlanAll converts a list.
func PlanAll(as []Attachment) []plan.Attachment {
	out := make([]plan.Attachment, 0, len(as))
	for _, a := range as {
		out = append(out, a.Plan())
	}
	return out
}

// CNIID is the ID of a CNI attachment: stable for (container, ifname).
func CNIID(containerID, ifName string) string {
	return "cni-" + shortHash(containerID+"/"+ifName, 16)
}

// AttachID is the ID of an `evpnhost attach` attachment.
func AttachID(iface string) string { return "attach-" + iface }

// CheckInterfaceName refuses what `evpnhost attach --interface` must not
// take over: invalid interface names, evpnhost's own devices (vx<VNI>,
// vlan<VID>, evpn*, the evc* CNI veths), the kernel's and FRR's (lo,
// ipmr-lo, the fabric peer-group) and names that read as IP addresses.
func CheckInterfaceName(iface string) error {
	if !api.ValidInterfaceName(iface) {
		return fmt.Errorf("%q is not an interface name: use A-Z, a-z, 0-9, '-', '_' and '.', start with a letter or digit, at most %d characters", iface, api.MaxIfNameLen)
	}
	if why := api.ReservedName(iface); why != "" {
		return fmt.Errorf("%q is reserved: %s", iface, why)
	}
	return nil
}

// HostIfName is the host end of a CNI veth: "evc" + 8 hex digits of
// sha256(containerID/ifname), 11 characters (IFNAMSIZ is 16).
func HostIfName(containerID, ifName string) string {
	return "evc" + shortHash(containerID+"/"+ifName, 8)
}

// HostIfNameLong is the host end's name when another attachment already
// holds HostIfName's (8 hex digits collide at about 1% among 10,000
// containers): "evc" + 12 hex digits, 15 characters.
func HostIfNameLong(containerID, ifName string) string {
	return "evc" + shortHash(containerID+"/"+ifName, 12)
}

func shortHash(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:n]
}

// StateDir is evpnhost's state directory for an FRR instance ("" = the
// system FRR), unless dir is set.
func StateDir(dir, frrInstance string) string { return state.Dir(dir, frrInstance) }

// Versions of the files written here (state.WriteJSON); files without one
// are the legacy, same-shaped version 0.
const (
	attachmentVersion = 1
	intentVersion     = 1
)

// Store is the attachment directory of one state directory.
type Store struct {
	StateDir string
}

// Open returns the store of stateDir (nothing is created until written).
func Open(stateDir string) *Store { return &Store{StateDir: stateDir} }

func (s *Store) dir() string { return filepath.Join(s.StateDir, state.AttachmentsDir) }

var idRE = regexp.MustCompile(`^[a-z]+-[A-Za-z0-9_.-]{1,64}$`)

func (s *Store) path(id string) (string, error) {
	if !idRE.MatchString(id) {
		return "", fmt.Errorf("invalid attachment id %q", id)
	}
	return filepath.Join(s.dir(), id+".json"), nil
}

func (s *Store) mkdir() error {
	if err := os.MkdirAll(s.dir(), 0o700); err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	return nil
}

// Lock takes the state directory's exclusive lock (state.Lock), waiting
// as long as it takes, and returns its release. Hold it around a
// read-modify-write and the kernel changes that go with it, so a
// concurrent reconcile never sees a port without its record.
func (s *Store) Lock() (func(), error) { return s.LockContext(context.Background(), nil) }

// LockContext is Lock giving up when ctx is done; waiting, when not nil,
// is told who holds the lock when it has to wait.
func (s *Store) LockContext(ctx context.Context, waiting func(holder string)) (func(), error) {
	return state.Lock(ctx, s.StateDir, waiting)
}

// List returns every attachment, sorted by ID. A missing directory is an
// empty store.
func (s *Store) List() ([]Attachment, error) {
	ents, err := os.ReadDir(s.dir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	var out []Attachment
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		a, ok, err := s.Get(strings.TrimSuffix(name, ".json"))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Attachment) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Get returns the attachment id; ok is false when there is none.
func (s *Store) Get(id string) (Attachment, bool, error) {
	var a Attachment
	p, err := s.path(id)
	if err != nil {
		return a, false, err
	}
	found, err := state.ReadJSON(p, attachmentVersion, &a)
	if err != nil {
		return Attachment{}, false, fmt.Errorf("attachment %s: %w", id, err)
	}
	return a, found, nil
}

// Put writes an attachment atomically (a temporary file renamed over the
// old one). Created is set when empty.
func (s *Store) Put(a Attachment) error {
	p, err := s.path(a.ID)
	if err != nil {
		return err
	}
	if err := s.mkdir(); err != nil {
		return err
	}
	if a.Created == "" {
		a.Created = time.Now().UTC().Format(time.RFC3339)
	}
	_, err = state.WriteJSON(p, attachmentVersion, a)
	return err
}

// Delete removes an attachment; a missing one is not an error.
func (s *Store) Delete(id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := state.Remove(p); err != nil {
		return fmt.Errorf("attachment %s: %w", id, err)
	}
	return nil
}

// IntentFile is where reconcile records the last intent it applied.
func IntentFile(stateDir string) string { return filepath.Join(stateDir, state.IntentFile) }

// SaveIntent records in as the last applied intent (atomically, 0600).
// Unchanged content is not rewritten.
func SaveIntent(stateDir string, in *api.Intent) error {
	_, err := state.WriteJSON(IntentFile(stateDir), intentVersion, in)
	return err
}

// ErrNoIntent means evpnhost has not applied an intent in that state
// directory yet.
var ErrNoIntent = errors.New("no intent applied yet")

// LoadIntent reads the last applied intent.
func LoadIntent(stateDir string) (*api.Intent, error) {
	var in api.Intent
	found, err := state.ReadJSON(IntentFile(stateDir), intentVersion, &in)
	if err != nil {
		return nil, fmt.Errorf("%w (apply the intent again to rewrite it)", err)
	}
	if !found {
		return nil, fmt.Errorf("%s: %w (run evpnhost apply first)", IntentFile(stateDir), ErrNoIntent)
	}
	return &in, nil
}

// Network is what a workload needs to know about its network.
type Network struct {
	Ref      string // tenant/network
	Tenant   string
	Table    uint32
	VLAN     uint16
	VNI      uint32
	MTU      int
	Gateways []netip.Prefix // gateway address with the subnet's length
	GWMAC    string
}

// Resolve finds "tenant/network" in the intent.
func Resolve(in *api.Intent, ref string) (Network, error) {
	tn, nn, ok := api.SplitNetworkRef(ref)
	if !ok {
		return Network{}, fmt.Errorf("%q is not tenant/network", ref)
	}
	var names []string
	for _, t := range in.Tenants {
		for _, n := range t.Networks {
			names = append(names, t.Name+"/"+n.Name)
			if t.Name == tn && n.Name == nn {
				return Network{Ref: ref, Tenant: t.Name, Table: t.Table(), VLAN: n.VLAN, VNI: n.VNI,
					MTU: n.MTUOr(in.Host.UnderlayMTU()), Gateways: n.GatewayPrefixes(), GWMAC: n.GatewayMAC().String()}, nil
			}
		}
	}
	return Network{}, fmt.Errorf("unknown network %q (known: %s)", ref, strings.Join(names, ", "))
}
