package cni

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/evpnhost/evpnhost/internal/attach"
)

func TestParseConfig(t *testing.T) {
	ok := `{"cniVersion":"1.1.0","name":"red-web","type":"evpnhost-cni","network":"red/web","mode":"bridged","stateDir":"/s",
		"ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.10.0/24"}]]}}`
	c, err := ParseConfig([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != "red/web" || c.Mode != attach.ModeBridged || c.IPAM.Type != "host-local" || c.StateDirectory() != "/s" || c.Name != "red-web" {
		t.Fatalf("%+v", c)
	}
	c, err = ParseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","network":"red/web","frrInstance":"h1"}`))
	if err != nil || c.Mode != attach.ModeBridged || c.StateDirectory() != "/var/lib/evpnhost/h1" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	chained := `{"cniVersion":"1.1.0","name":"n","network":"red/web","prevResult":{"cniVersion":"1.1.0","ips":[{"address":"10.1.10.5/24"}]}}`
	if c, err = ParseConfig([]byte(chained)); err != nil || c.PrevResult == nil {
		t.Fatalf("prevResult: %+v %v", c, err)
	}

	for _, tc := range []struct {
		in    string
		code  uint
		field string
	}{
		{`{"cniVersion":"1.1.0","name":"n",`, types.ErrDecodingFailure, ""},
		{`{"cniVersion":"1.1.0","name":"n"}`, types.ErrInvalidNetworkConfig, `"network"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red"}`, types.ErrInvalidNetworkConfig, `"network"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","mode":"vxlan"}`, types.ErrInvalidNetworkConfig, `"mode"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","frrInstance":"a/b"}`, types.ErrInvalidNetworkConfig, `"frrInstance"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","frrInstance":".."}`, types.ErrInvalidNetworkConfig, `"frrInstance"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","frrInstance":"."}`, types.ErrInvalidNetworkConfig, `"frrInstance"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","frrInstance":"../etc"}`, types.ErrInvalidNetworkConfig, `"frrInstance"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","frrInstance":"-x"}`, types.ErrInvalidNetworkConfig, `"frrInstance"`},
		{`{"cniVersion":"1.1.0","name":"n","network":"red/web","prevResult":{"cniVersion":"1.1.0","ips":"x"}}`, types.ErrDecodingFailure, `"prevResult"`},
	} {
		_, err := ParseConfig([]byte(tc.in))
		var te *types.Error
		if !errors.As(err, &te) || te.Code != tc.code || !strings.Contains(te.Msg, tc.field) {
			t.Errorf("%s: got %v, want code %d naming %s", tc.in, err, tc.code, tc.field)
		}
	}
}

func TestResolveNetwork(t *testing.T) {
	c, _ := ParseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","network":"red/web","stateDir":"` + t.TempDir() + `"}`))
	_, _, err := c.ResolveNetwork()
	var te *types.Error
	if !errors.As(err, &te) || te.Code != types.ErrPluginNotAvailable {
		t.Fatalf("no intent: %v", err)
	}
}
