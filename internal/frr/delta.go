package frr

import (
	"slices"
	"strings"
)

// Delta is what frr-reload.py would change.
type Delta struct {
	Delete []string
	Add    []string
}

// Empty reports whether nothing would change.
func (d Delta) Empty() bool { return len(d.Delete) == 0 && len(d.Add) == 0 }

// String renders the delta as a unified-diff-like text.
func (d Delta) String() string {
	var b strings.Builder
	for _, l := range d.Lines() {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Lines are the delta's lines, deletions ("- ") first, then additions ("+ ").
func (d Delta) Lines() []string {
	out := make([]string, 0, len(d.Delete)+len(d.Add))
	for _, l := range d.Delete {
		out = append(out, "- "+l)
	}
	for _, l := range d.Add {
		out = append(out, "+ "+l)
	}
	return out
}

// ParseDelta reads the "Lines To Delete" and "Lines To Add" sections of
// frr-reload.py --test output.
func ParseDelta(out string) Delta {
	var d Delta
	var cur *[]string
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "Lines To Delete":
			cur = &d.Delete
		case t == "Lines To Add":
			cur = &d.Add
		case t == "" || strings.Trim(t, "=") == "":
			continue
		case cur != nil && !strings.Contains(t, "frr-reload") && !strings.HasPrefix(t, "INFO") && !strings.HasPrefix(t, "DEBUG"):
			*cur = append(*cur, t)
		}
	}
	return d
}

// DefinitionsFirst reorders a configuration so that its definitions come
// before what may refer to them: the `frr version`/`frr defaults` lines
// stay first, then the lists (prefix, access, community, AS-path), then the
// route-maps, then everything else; each group keeps its order.
func DefinitionsFirst(conf string) string {
	var groups [4][]string
	for _, st := range Stanzas(conf) {
		r := definitionRank(strings.TrimSpace(st[0]))
		groups[r] = append(groups[r], strings.Join(st, "\n"))
	}
	return strings.Join(slices.Concat(groups[:]...), "\n!\n") + "\n"
}

func definitionRank(first string) int {
	switch {
	case strings.HasPrefix(first, "frr "):
		return 0
	case strings.HasPrefix(first, "route-map "):
		return 2
	}
	for _, p := range []string{"ip prefix-list ", "ipv6 prefix-list ", "access-list ", "ip access-list ", "ipv6 access-list ",
		"bgp community-list ", "bgp large-community-list ", "bgp extcommunity-list ", "bgp as-path access-list "} {
		if strings.HasPrefix(first, p) {
			return 1
		}
	}
	return 3
}
