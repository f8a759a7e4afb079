package linux

import (
	"fmt"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// ForeignLinks returns, of the links named in names, those that exist and
// are not evpnhost's (no alias evpnhost), each with its kind (netlink's
// type: "vrf", "dummy", "veth", ...). Observe leaves such links out, so
// a plan cannot tell "absent" from "someone else's": reconcile asks here
// before it creates a tenant's VRF, and refuses a tenant whose name is
// taken (issue 15 item 4).
func (n *Netlink) ForeignLinks(names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range names {
		l, err := n.h.LinkByName(name)
		if err != nil {
			if ignoreNotFound(err) == nil {
				continue
			}
			return nil, fmt.Errorf("link %s: %w", name, err)
		}
		if l.Attrs().Alias != kernel.OwnerAlias {
			out[name] = l.Type()
		}
	}
	return out, nil
}
