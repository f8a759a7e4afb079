package agent

import (
	"slices"
	"strconv"
	"strings"
)

// frrPIDs is an FRRWatch print ("zebra=12 bgpd=-", frr.Instance.PIDs)
// parsed once: FRR's daemons in the order printed, each with its pid, 0
// when it does not run. A field that is neither daemon=pid nor daemon=-
// is left out (FRRWatch prints none).
type frrPIDs []frrDaemon

type frrDaemon struct {
	name string
	pid  int // 0: not running
}

// parseFRRPIDs parses an FRRWatch print.
func parseFRRPIDs(print string) frrPIDs {
	var p frrPIDs
	for _, f := range strings.Fields(print) {
		d, pid, ok := strings.Cut(f, "=")
		if !ok || d == "" {
			continue
		}
		if pid == "-" {
			p = append(p, frrDaemon{name: d})
		} else if n, err := strconv.Atoi(pid); err == nil && n > 0 {
			p = append(p, frrDaemon{name: d, pid: n})
		}
	}
	return p
}

// String is the print p was parsed from: "zebra=12 bgpd=-".
func (p frrPIDs) String() string {
	fs := make([]string, len(p))
	for i, d := range p {
		pid := "-"
		if d.pid > 0 {
			pid = strconv.Itoa(d.pid)
		}
		fs[i] = d.name + "=" + pid
	}
	return strings.Join(fs, " ")
}

// Equal: the same daemons, in the same order, with the same pids; a
// daemon restarted (or started, or gone) makes them differ.
func (p frrPIDs) Equal(q frrPIDs) bool { return slices.Equal(p, q) }

// pid is daemon's pid in p, 0 when it does not run; ok is false when p
// does not name it.
func (p frrPIDs) pid(daemon string) (pid int, ok bool) {
	for _, d := range p {
		if d.name == daemon {
			return d.pid, true
		}
	}
	return 0, false
}

// restartedAlone lists the daemons that run in now with another pid than
// in before (restarted, or started) while FRR as a whole did not restart:
// they came back without configuration, or lost part of it.
//
// FRR 8.4: zebra is the anchor. A daemon restarted under a zebra that kept
// its pid has no configuration; when zebra restarted too, FRR was
// restarted as a whole, its init script configured it, and the reconcile
// does the rest.
//
// FRR >= 9 (mgmtd in the print): zebra's and staticd's configuration lives
// in mgmtd too, so FRR restarted as a whole only when zebra and mgmtd both
// did. A zebra restarted under a running mgmtd gets its vrf/vni lines back
// from it but loses the rest (`no zebra nexthop kernel enable`, its
// prefix-lists and route-maps); a mgmtd restarted under a running zebra
// forgets the vrf/vni and ip route lines zebra and staticd keep, so they
// vanish from the running configuration (tested on FRR 10.3). Both are
// restored from the saved configuration like any other daemon.
func restartedAlone(before, now frrPIDs) []string {
	z, _ := now.pid("zebra")
	zb, _ := before.pid("zebra")
	m, _ := now.pid("mgmtd")
	mb, _ := before.pid("mgmtd")
	if z == 0 {
		return nil
	}
	if z != zb && (m == 0 || m != mb) {
		return nil // FRR restarted as a whole (or zebra, with no mgmtd to keep anything)
	}
	var ds []string
	for _, d := range now {
		if was, _ := before.pid(d.name); d.pid != 0 && d.pid != was {
			ds = append(ds, d.name)
		}
	}
	return ds
}
