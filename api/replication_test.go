package api

import (
	"encoding/json"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestReplicationRoundTrip(t *testing.T) {
	for _, n := range []Network{
		{Name: "a", VNI: 1, VLAN: 1},
		{Name: "b", VNI: 2, VLAN: 2, Replication: &Replication{}},
		{Name: "c", VNI: 3, VLAN: 3, Replication: &Replication{Multicast: "239.1.1.10"}},
	} {
		y, err := yaml.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		var back Network
		if err := yaml.Unmarshal(y, &back); err != nil {
			t.Fatalf("%s: %v", y, err)
		}
		if back.Group() != n.Group() {
			t.Errorf("yaml %s: group %v, want %v", y, back.Group(), n.Group())
		}
		j, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		back = Network{}
		if err := json.Unmarshal(j, &back); err != nil {
			t.Fatalf("%s: %v", j, err)
		}
		if back.Group() != n.Group() {
			t.Errorf("json %s: group %v, want %v", j, back.Group(), n.Group())
		}
	}
	var r Replication
	if err := json.Unmarshal([]byte(`{"multicast":"239.1.1.1","x":1}`), &r); err == nil {
		t.Error("unknown JSON field accepted")
	}
}
