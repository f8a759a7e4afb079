// Command evpnhost-bench measures how evpnhost's kernel part scales with
// the number of L2VNIs and tenants, against ifupdown2 and a raw
// `ip -batch`/`bridge -batch` of the same objects, and writes
// docs/benchmarks.md. `make bench` runs it (scripts/bench.sh):
//
//	evpnhost-bench kernel -vnis N -tenants T   one case, in the current netns (run under unshare -n)
//	evpnhost-bench frr -vnis N -tenants T -single   one case with FRR's zebra and bgpd watching (under unshare -n)
//	evpnhost-bench run -out results.json       the matrix: kernel, batch, ifupdown2, each in a fresh netns
//	evpnhost-bench report -results results.json ...   docs/benchmarks.md and the SVG plot
//	evpnhost-bench single -results single.json -md docs/benchmarks.md   the single VXLAN device cases (their own section)
//	evpnhost-bench policy -out policy.json -md docs/benchmarks.md   policy enforcement: eBPF vs nftables vs none (its own section)
//	evpnhost-bench failover -out failover.json -md docs/benchmarks.md   an uplink cut under traffic, BFD on/off (on a running lab; its own section)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "kernel":
		err = kernelCmd(os.Args[2:])
	case "frr":
		err = frrCmd(os.Args[2:])
	case "single":
		err = singleCmd(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	case "policy":
		err = policyCmd(os.Args[2:])
	case "convergence":
		err = convergenceCmd(os.Args[2:])
	case "failover":
		err = failoverCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "evpnhost-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: evpnhost-bench kernel|frr|run|report|single|policy|convergence|failover [flags]")
	os.Exit(2)
}
