package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/frr"
)

func TestL3VNIDefault(t *testing.T) {
	for _, c := range []struct {
		version string
		err     error
		on      bool
		why     string
	}{
		{"8.4.4", nil, true, "on: FRR 8.4.4 has FRR #12391"},
		{"9.0.1", nil, true, "on: FRR 9.0.1 has FRR #12391"},
		{"8.4.5", nil, false, "off: FRR 8.4.5 has the fix of FRR #12391"},
		{"10.3", nil, false, "off: FRR 10.3 has the fix"},
		{"", errors.New("vtysh: connection refused"), true, "on: FRR version unknown (vtysh: connection refused)"},
	} {
		var v frr.Version
		if c.version != "" {
			v, _ = frr.ParseVersion(c.version)
		}
		on, why := l3vniDefault(v, c.err)
		if on != c.on || !strings.HasPrefix(why, c.why) {
			t.Errorf("%s %v: %v %q; want %v %q...", c.version, c.err, on, why, c.on, c.why)
		}
	}
}
