package nft_test

import (
	"errors"
	"testing"

	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/nft"
	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

// TestPrivilegedNftablesPolicy runs the policy scenario with real traffic
// between namespaces through the nftables tables.
func TestPrivilegedNftablesPolicy(t *testing.T) {
	policytest.Unsupported = func(err error) bool { return errors.Is(err, nft.ErrNoBridgeConntrack) }
	policytest.Scenario(t, func(t *testing.T, netnsFD int, dir string) policy.Backend {
		b, err := nft.Open(netnsFD)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
