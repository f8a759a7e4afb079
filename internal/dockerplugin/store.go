package dockerplugin

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/evpnhost/evpnhost/internal/state"
)

const dockerVersion = 1

// records is state.DockerFile: what Docker told the plugin that the
// attachment store does not hold. Read and written under the state
// directory's lock.
type records struct {
	// Networks by Docker's network ID.
	Networks map[string]network `json:"networks,omitempty"`
	// Reserved are addresses the IPAM driver handed out whose endpoint
	// is not created yet (CreateEndpoint records the attachment, which
	// then holds the address, and drops the reservation).
	Reserved []reservation `json:"reserved,omitempty"`
}

// network is a Docker network of the evpnhost driver.
type network struct {
	ID      string   `json:"id"`
	Network string   `json:"network"` // tenant/network
	Mode    string   `json:"mode"`    // bridged or routed
	Pools   []string `json:"pools,omitempty"`
	Created string   `json:"created"`
}

// reservation is one address the IPAM driver gave out.
type reservation struct {
	Tenant  string `json:"tenant"`
	IP      string `json:"ip"`
	PoolID  string `json:"poolID"`
	Created string `json:"created"`
}

func (p *Plugin) recordsPath() string { return filepath.Join(p.cfg.StateDir, state.DockerFile) }

func (p *Plugin) readRecords() (*records, error) {
	r := &records{}
	if _, err := state.ReadJSON(p.recordsPath(), dockerVersion, r); err != nil {
		return nil, err
	}
	if r.Networks == nil {
		r.Networks = map[string]network{}
	}
	return r, nil
}

func (p *Plugin) writeRecords(r *records) error {
	_, err := state.WriteJSON(p.recordsPath(), dockerVersion, r)
	return err
}

// reservedBy is the reservation of ip in tenant, if any.
func (r *records) reservedBy(tenant, ip string) (reservation, bool) {
	for _, x := range r.Reserved {
		if x.Tenant == tenant && x.IP == ip {
			return x, true
		}
	}
	return reservation{}, false
}

func (r *records) unreserve(tenant, ip string) bool {
	n := len(r.Reserved)
	r.Reserved = slices.DeleteFunc(r.Reserved, func(x reservation) bool { return x.Tenant == tenant && x.IP == ip })
	return len(r.Reserved) != n
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// olderThan reports whether an RFC 3339 time is more than d ago (an
// unparsable one is old).
func olderThan(ts string, d time.Duration) bool {
	t, err := time.Parse(time.RFC3339, ts)
	return err != nil || time.Since(t) > d
}
