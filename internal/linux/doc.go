// Package linux is evpnhost's one adapter to the Linux kernel: it observes
// and changes the objects internal/kernel models (through netlink), the
// leak guards (an nftables table), sysctls (/proc/sys), the next-hop
// entries of the L3VNIs, the container side of a CNI attachment, and
// subscribes to link and address events. internal/kernel stays pure: the
// model, Diff and its operations, no system calls.
//
// Only internal/linux talks netlink and nftables, except:
//
//   - internal/policy/ebpf attaches its eBPF programs with tc (a clsact
//     qdisc and cls_bpf filters) through netlink itself: the filters
//     belong to the programs and maps it loads with cilium/ebpf, and only
//     that package knows their lifecycle (docs/policy.md).
//   - internal/policy/nft compiles the policy into its own nftables table
//     (not the guards' table) and writes it: the rules are the backend.
//   - cmd/evpnhost-bench, a lab tool, builds its fixtures (a dummy uplink)
//     and cuts links with tc drop filters to time failovers; that is not
//     evpnhost's work on a host.
package linux
