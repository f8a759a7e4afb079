package reconcile

import (
	"fmt"
	"slices"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/policy"
)

// Policy enforces the tenants' policies at the workload ports
// (enforce.Enforcer).
type Policy interface {
	Apply(t policy.Table) error
}

// applyPolicy compiles the policies for the workload ports that exist
// (intent workloads and run-time attachments) and enforces them. It runs
// after the kernel step, when the ports are in place.
func (r *Reconciler) applyPolicy(in *api.Intent, res *Result) error {
	if r.Policy == nil {
		return nil
	}
	var atts []plan.Attachment
	if r.StateDir != "" {
		list, err := attach.Open(r.StateDir).List()
		if err != nil {
			return err
		}
		atts = attach.PlanAll(list)
		skipped := plan.Skipped(in, atts)
		atts = slices.DeleteFunc(atts, func(a plan.Attachment) bool {
			_, skip := skipped[a.Interface]
			return skip || slices.Contains(res.MissingAttachments, a.Interface)
		})
	}
	ports := slices.DeleteFunc(policy.Ports(in, atts), func(p policy.Port) bool { return slices.Contains(res.Missing, p.Interface) })
	t := policy.Compile(in, ports)
	if err := r.Policy.Apply(t); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if len(t.Ports) > 0 {
		r.log().Info("policy enforced", "op", "policy", "ports", len(t.Ports), "rules", len(t.Rules))
	}
	return nil
}
