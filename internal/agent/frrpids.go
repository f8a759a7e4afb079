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

// restartedAlone lists the daemons other than zebra that run in now with
// another pid than in before (restarted, or started) while zebra kept its
// pid: they came back without configuration. When zebra restarted too, FRR
// was restarted as a whole, its init script configured it, and the
// reconcile does the rest.
func restartedAlone(before, now frrPIDs) []string {
	z, _ := now.pid("zebra")
	if zb, _ := before.pid("zebra"); z == 0 || z != zb {
		return nil
	}
	var ds []string
	for _, d := range now {
		if was, _ := before.pid(d.name); d.name != "zebra" && d.pid != 0 && d.pid != was {
			ds = append(ds, d.name)
		}
	}
	return ds
}
