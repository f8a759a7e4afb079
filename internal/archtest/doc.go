// Package archtest holds no code: its tests keep the layout that
// docs/architecture.md describes true. The pure core (api, internal/plan,
// internal/kernel, internal/frr, internal/policy) must not reach netlink,
// nftables, eBPF, os/exec or etcd, and must build for any GOOS; only
// internal/linux (and the allow-list in its package doc) imports netlink or
// nftables.
package archtest
