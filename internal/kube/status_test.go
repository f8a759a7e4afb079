package kube

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	v1 "github.com/evpnhost/evpnhost/internal/kube/apis/v1alpha1"
)

// TestBuildStatus: each situation gives its conditions and reasons.
func TestBuildStatus(t *testing.T) {
	now := time.Now().UTC()
	ok := fabric.Status{Host: "h1", AppliedRevision: 7, Source: SourceName, LastSuccess: now, LastAttempt: now, Agent: "test"}
	failed := ok
	failed.Errors = []fabric.ObjectError{{Object: "tenants[0]", Error: "bgpd refused"}, {Object: "vx10", Error: "busy"}}
	cached := ok
	cached.Source = "cache"
	invalid := &api.ValidationError{Problems: []api.FieldError{{Path: "Network/red.web: spec.vni", Msg: "dup"}}}
	for _, tc := range []struct {
		name       string
		st         fabric.Status
		upToDate   bool
		err        error
		conv, degr metav1.ConditionStatus
		reason     string
	}{
		{"applied", ok, true, nil, metav1.ConditionTrue, metav1.ConditionFalse, v1.ReasonApplied},
		{"older intent applied", ok, false, nil, metav1.ConditionFalse, metav1.ConditionFalse, v1.ReasonApplying},
		{"cache", cached, false, nil, metav1.ConditionFalse, metav1.ConditionFalse, v1.ReasonApplying},
		{"apply failed", failed, true, nil, metav1.ConditionFalse, metav1.ConditionTrue, v1.ReasonApplyFailed},
		{"invalid", cached, false, invalid, metav1.ConditionFalse, metav1.ConditionTrue, v1.ReasonInvalidIntent},
		{"unreachable", cached, false, errors.New("not synced"), metav1.ConditionFalse, metav1.ConditionTrue, v1.ReasonUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := BuildStatus(tc.st, 3, tc.upToDate, 7, tc.err, nil)
			get := func(typ string) metav1.Condition {
				for _, c := range s.Conditions {
					if c.Type == typ {
						return c
					}
				}
				t.Fatalf("no condition %s", typ)
				return metav1.Condition{}
			}
			c, d, r := get(v1.ConditionConverged), get(v1.ConditionDegraded), get(v1.ConditionReady)
			if c.Status != tc.conv || c.Reason != tc.reason || d.Status != tc.degr || r.Status != metav1.ConditionTrue {
				t.Errorf("Converged %s/%s Degraded %s/%s Ready %s", c.Status, c.Reason, d.Status, d.Reason, r.Status)
			}
			if c.ObservedGeneration != 3 || int(s.ErrorCount) != len(tc.st.Errors) || s.AppliedRevision != 7 {
				t.Errorf("status %+v", s)
			}
			if len(tc.st.Errors) > 1 && !strings.Contains(d.Message, "and 1 more") {
				t.Errorf("Degraded message %q", d.Message)
			}
		})
	}
	// A condition keeps its transition time while its status stays.
	first := BuildStatus(ok, 1, true, 7, nil, nil)
	past := metav1.NewTime(now.Add(-time.Hour).Truncate(time.Second))
	for i := range first.Conditions {
		first.Conditions[i].LastTransitionTime = past
	}
	again := BuildStatus(ok, 1, true, 7, nil, first.Conditions)
	for _, c := range again.Conditions {
		if !c.LastTransitionTime.Equal(&past) {
			t.Errorf("%s moved its transition time", c.Type)
		}
	}
	changed := BuildStatus(failed, 1, true, 7, nil, first.Conditions)
	for _, c := range changed.Conditions {
		if c.Type == v1.ConditionConverged && c.LastTransitionTime.Equal(&past) {
			t.Errorf("Converged went False and kept its transition time")
		}
	}
}
