package frr

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDefinitionsFirst: every stanza of a configuration survives, `frr
// defaults` stays first, every list comes before every route-map and
// every route-map before what refers to them; FRR's parser accepts the
// result.
func TestDefinitionsFirst(t *testing.T) {
	for _, golden := range []string{"tenants", "leak-multicast"} {
		t.Run(golden, func(t *testing.T) {
			conf, err := os.ReadFile(filepath.Join("testdata", golden+".conf"))
			if err != nil {
				t.Fatal(err)
			}
			got := DefinitionsFirst(string(conf))
			key := func(c string) []string {
				var ks []string
				for _, st := range Stanzas(c) {
					ks = append(ks, strings.Join(st, "\n"))
				}
				slices.Sort(ks)
				return ks
			}
			if !slices.Equal(key(got), key(string(conf))) {
				t.Fatalf("stanzas differ after reordering:\n%s", got)
			}
			sts := Stanzas(got)
			if !strings.HasPrefix(sts[0][0], "frr defaults") {
				t.Errorf("first stanza %q, want frr defaults", sts[0][0])
			}
			rank, lastRank := 0, 0
			for _, st := range sts {
				first := strings.TrimSpace(st[0])
				switch {
				case strings.HasPrefix(first, "frr "):
					rank = 0
				case strings.Contains(first, "prefix-list "):
					rank = 1
				case strings.HasPrefix(first, "route-map "):
					rank = 2
				default:
					rank = 3
				}
				if rank < lastRank {
					t.Errorf("%q comes after a stanza of a later group", first)
				}
				lastRank = rank
			}
			if lastRank != 3 || !strings.Contains(got, "\nroute-map ") || !strings.Contains(got, "\nip prefix-list ") {
				t.Fatalf("golden %s lacks lists, route-maps or the rest:\n%s", golden, got)
			}
			path := filepath.Join(t.TempDir(), "reordered.conf")
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			checkWithFRR(t, path)
		})
	}
}
