package cni

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// FuzzParseConfig: any input either parses into a configuration that
// holds the plugin's invariants (a tenant/network reference, a known
// mode, an FRR instance name without separators) and survives a JSON
// round trip unchanged, or is refused with a CNI error object: code 6
// (malformed) or 7 naming the field. It never panics. Seeds: the
// committed corpus (testdata/fuzz/FuzzParseConfig) and the cases below.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion":"1.1.0","name":"red-web","type":"evpnhost-cni","network":"red/web","mode":"bridged","ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.10.0/24"}]]}}`,
		`{"cniVersion":"1.0.0","name":"n","network":"red/app","mode":"routed","frrInstance":"h1"}`,
		`{"cniVersion":"1.1.0","name":"n","network":"red/web","prevResult":{"cniVersion":"1.1.0","ips":[{"address":"10.1.10.5/24"}]}}`,
		`{"cniVersion":"0.4.0","name":"n","network":"a/b","stateDir":"/tmp/s"}`,
		`{"network":"red"}`,
		`{"network":"red/web","mode":"bridge"}`,
		`{"network":"red/web","frrInstance":"a b"}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		conf, err := ParseConfig(data)
		if err != nil {
			var e *types.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not a CNI error object: %T %v", err, err)
			}
			switch e.Code {
			case types.ErrDecodingFailure:
			case types.ErrInvalidNetworkConfig:
				if !strings.HasPrefix(e.Msg, `field "`) {
					t.Fatalf("config error does not name its field: %q", e.Msg)
				}
			default:
				t.Fatalf("unexpected error code %d: %v", e.Code, e)
			}
			return
		}
		if _, _, ok := api.SplitNetworkRef(conf.Network); !ok {
			t.Fatalf("accepted network %q is not tenant/network", conf.Network)
		}
		if conf.Mode != attach.ModeBridged && conf.Mode != attach.ModeRouted {
			t.Fatalf("accepted mode %q", conf.Mode)
		}
		if strings.ContainsAny(conf.FRRInstance, "/ \t\n") {
			t.Fatalf("accepted frrInstance %q", conf.FRRInstance)
		}
		if conf.StateDirectory() == "" {
			t.Fatal("empty state directory")
		}
		// Round trip: the fields the plugin understood, written back as
		// a configuration, parse to the same values. (types.PluginConf's
		// own MarshalJSON would drop the plugin's fields, hence the map.)
		out, err := json.Marshal(map[string]string{
			"cniVersion": conf.CNIVersion, "name": conf.Name, "type": conf.Type,
			"network": conf.Network, "mode": conf.Mode, "stateDir": conf.StateDir, "frrInstance": conf.FRRInstance,
		})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if again.Network != conf.Network || again.Mode != conf.Mode || again.StateDir != conf.StateDir ||
			again.FRRInstance != conf.FRRInstance || again.Name != conf.Name || again.CNIVersion != conf.CNIVersion {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", conf, again)
		}
	})
}
