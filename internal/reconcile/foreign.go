package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// ForeignError refuses an intent with tenants whose VRF already exists and
// is not evpnhost's: the operator's kernel VRF of that name, or their
// `vrf NAME` / `router bgp ASN vrf NAME` stanzas in FRR. Applying it would
// record the tenant as owned and so replace those stanzas, and delete them
// once the tenant leaves the intent (issue 15 item 4). Nothing was changed.
type ForeignError struct{ Tenants []ForeignTenant }

// ForeignTenant is one refused tenant and what of its name is taken.
type ForeignTenant struct {
	Name string
	// Link is the kind of the kernel link of that name that is not
	// evpnhost's ("vrf", "dummy", ...); "" when there is none.
	Link string
	// FRR are the first lines of the running stanzas for that VRF that
	// evpnhost does not own.
	FRR []string
}

func (e *ForeignError) Error() string {
	var parts []string
	for _, t := range e.Tenants {
		var why []string
		switch t.Link {
		case "":
		case "vrf":
			why = append(why, fmt.Sprintf("kernel VRF %s exists and is not evpnhost's (no alias %s)", t.Name, kernel.OwnerAlias))
		default:
			why = append(why, fmt.Sprintf("kernel link %s (%s) exists and is not evpnhost's (no alias %s)", t.Name, t.Link, kernel.OwnerAlias))
		}
		if len(t.FRR) > 0 {
			why = append(why, fmt.Sprintf("FRR already has `%s` that evpnhost does not own", strings.Join(t.FRR, "` / `")))
		}
		parts = append(parts, fmt.Sprintf("tenant %s: %s", t.Name, strings.Join(why, "; ")))
	}
	return fmt.Sprintf("refused, nothing changed: %s (rename the tenant, or remove the operator's VRF and its FRR configuration first)", strings.Join(parts, "; "))
}

// refuseForeign checks, before anything changes, that no tenant the plan
// kp would create is taken by someone else (ForeignError). The candidates
// are the tenants whose VRF kp adds: Observe sees only evpnhost's links, so
// an existing VRF of evpnhost's is never added and a foreign one always
// is. Of those, the kernel is asked whether a link of that name exists
// (Kernel.ForeignLinks), and the running FRR configuration is read for
// their VRF stanzas unless owned.json says the tenant is evpnhost's (its
// stanzas then are, e.g. after a reboot lost the kernel VRF). A steady
// apply has no candidates and costs nothing here.
func (r *Reconciler) refuseForeign(ctx context.Context, in *api.Intent, kp kernel.Plan) error {
	var created []string
	for _, op := range kp.Main {
		if op.Action == kernel.ActAdd && op.Link != nil && op.Link.Kind == kernel.KindVRF &&
			slices.ContainsFunc(in.Tenants, func(t api.Tenant) bool { return t.Name == op.Link.Name }) {
			created = append(created, op.Link.Name)
		}
	}
	if len(created) == 0 {
		return nil
	}
	links, err := r.Kernel.ForeignLinks(created)
	if err != nil {
		return fmt.Errorf("kernel: look for foreign VRFs: %w", err)
	}
	rec, err := r.load()
	if err != nil {
		return err
	}
	running := ""
	if slices.ContainsFunc(created, func(n string) bool { return !slices.Contains(rec.Tenants, n) }) {
		if running, err = r.FRR.RunningConfig(ctx); err != nil {
			return frrError{fmt.Errorf("read frr running config: %w", err)}
		}
	}
	var fe ForeignError
	for _, name := range created {
		t := ForeignTenant{Name: name, Link: links[name]}
		if !slices.Contains(rec.Tenants, name) {
			t.FRR = frr.VRFStanzas(running, name)
		}
		if t.Link != "" || len(t.FRR) > 0 {
			fe.Tenants = append(fe.Tenants, t)
		}
	}
	if len(fe.Tenants) > 0 {
		return &fe
	}
	return nil
}
