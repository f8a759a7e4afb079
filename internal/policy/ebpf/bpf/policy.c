// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// evpnhost micro-segmentation: tc clsact programs on the host side of
// workload ports. policy_in runs on the port's egress (traffic to the
// workload), policy_out on its ingress (traffic from the workload).
//
// A per-port connection table (LRU hash keyed by the 5-tuple in a
// canonical order, so both directions share an entry) lets the packets
// and replies of admitted flows pass with one hash lookup. The first packet of a new flow is
// decided by the port's rules of the current generation: a longest-
// prefix-match lookup of the remote address gives a class (the rules
// whose remote prefix covers it, in rule order, compiled in Go), whose
// entries are scanned for the first protocol/port/local-address match;
// no class or no match: the port's default. Go writes a new generation
// beside the current one and flips config.gen: rule changes are atomic
// and leave the connection table, so established flows, alone.
//
// Regenerate the Go bindings with `make generate`.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* ICMP and ICMPv6 echo headers (linux/icmp.h drags in libc headers). */
struct icmp_echo {
	__u8 type;
	__u8 code;
	__u16 csum;
	__u16 id;
	__u16 seq;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

char __license[] SEC("license") = "Dual BSD/GPL";

#define DIR_IN 0
#define DIR_OUT 1
#define PROTO_ANY 0
#define PROTO_ICMP_ANY 1 /* ICMP or ICMPv6 */
#define LOCAL_ANY 0xff
#define MAX_CLASS_ENTRIES 64 /* policy.MaxClassEntries */
#define RULES_PER_GEN 131072
#define CT_TIMEOUT_TCP (3600ULL * 1000000000ULL)
#define CT_TIMEOUT_OTHER (120ULL * 1000000000ULL)
#define CT_REFRESH (1000000000ULL)
/* bits of lpm_key before the address: gen, ifindex, dir, family, pad */
#define LPM_FIXED_BITS 96

struct config {
	__u32 gen;
};

struct port_key {
	__u32 gen;
	__u32 ifindex;
};

struct port_val {
	__u8 default_allow;
	__u8 pad[3];
	__u32 default_counter;
};

struct lpm_key {
	__u32 prefixlen;
	__u32 gen;
	__u32 ifindex;
	__u8 dir;
	__u8 family; /* 4 or 6 */
	__u16 pad;
	__u8 addr[16];
};

struct class_val {
	__u32 first; /* index in rules */
	__u32 count;
};

struct rule {
	__u8 proto;      /* PROTO_ANY, PROTO_ICMP_ANY, IPPROTO_TCP, IPPROTO_UDP */
	__u8 allow;
	__u8 local_bits; /* LOCAL_ANY: any local address */
	__u8 pad;
	__u16 port_lo;
	__u16 port_hi;
	__u32 counter;
	__u8 local[16];
};

struct counter {
	__u64 allowed;
	__u64 denied;
};

/* A connection, whichever way its packets go: the endpoint (address,
 * port) that sorts first is a, so both directions find one entry. */
struct ct_key {
	__u32 ifindex;
	__u8 family;
	__u8 proto;
	__u16 pad;
	__u16 port_a;
	__u16 port_b;
	__u8 addr_a[16];
	__u8 addr_b[16];
};

struct ct_val {
	__u64 last_seen;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct port_key);
	__type(value, struct port_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__type(key, struct lpm_key);
	__type(value, struct class_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * RULES_PER_GEN);
	__type(key, __u32);
	__type(value, struct rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct ct_key);
	__type(value, struct ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_conntrack SEC(".maps");

struct pkt {
	__u8 saddr[16], daddr[16]; /* first: 8-byte aligned */
	__u16 sport, dport;        /* host order; ICMP echo: the id in both */
	__u8 family;
	__u8 proto;
};

/* parse fills p; returns 1 to decide, 0 to let the packet pass
 * (non-IP, ARP, ND, ICMP errors, non-first fragments, truncated). */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	void *l4;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return 0;
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0; /* non-first fragment: no ports; the first one was decided */
		p->family = 4;
		p->proto = ip->protocol;
		__builtin_memcpy(p->saddr, &ip->saddr, 4);
		__builtin_memcpy(p->daddr, &ip->daddr, 4);
		l4 = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return 0;
		p->family = 6;
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		l4 = ip6 + 1;
		/* skip hop-by-hop, routing and destination options headers */
#pragma unroll
		for (int i = 0; i < 4; i++) {
			if (p->proto != IPPROTO_HOPOPTS && p->proto != IPPROTO_ROUTING && p->proto != IPPROTO_DSTOPTS)
				break;
			__u8 *ext = l4;
			if ((void *)(ext + 2) > end)
				return 0;
			p->proto = ext[0];
			l4 += (ext[1] + 1) * 8;
		}
		if (p->proto == IPPROTO_FRAGMENT) {
			__u8 *fh = l4;
			if ((void *)(fh + 8) > end)
				return 0;
			if ((fh[2] << 8 | fh[3]) & 0xfff8)
				return 0; /* non-first fragment */
			p->proto = fh[0];
			l4 += 8;
		}
	} else {
		return 0; /* ARP and other non-IP */
	}

	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		__u16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return 0;
		p->sport = bpf_ntohs(ports[0]);
		p->dport = bpf_ntohs(ports[1]);
		return 1;
	}
	case IPPROTO_ICMP: {
		struct icmp_echo *ic = l4;
		if ((void *)(ic + 1) > end)
			return 0;
		if (ic->type != ICMP_ECHO && ic->type != ICMP_ECHOREPLY)
			return 0; /* errors of any flow pass */
		p->sport = p->dport = bpf_ntohs(ic->id);
		return 1;
	}
	case IPPROTO_ICMPV6: {
		struct icmp_echo *ic = l4;
		if ((void *)(ic + 1) > end)
			return 0;
		if (ic->type != ICMPV6_ECHO_REQUEST && ic->type != ICMPV6_ECHO_REPLY)
			return 0; /* errors and neighbor discovery pass */
		p->sport = p->dport = bpf_ntohs(ic->id);
		return 1;
	}
	}
	p->sport = p->dport = 0;
	return 1;
}

static __always_inline int local_match(const struct rule *r, const __u8 *addr)
{
	if (r->local_bits == LOCAL_ANY)
		return 1;
	__u32 bits = r->local_bits;
	for (int i = 0; i < 16; i++) {
		if (bits == 0)
			return 1;
		__u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((addr[i] ^ r->local[i]) & mask)
			return 0;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return 1;
}

static __always_inline int rule_match(const struct rule *r, const struct pkt *p, const __u8 *local)
{
	switch (r->proto) {
	case PROTO_ANY:
		break;
	case PROTO_ICMP_ANY:
		if (p->proto != IPPROTO_ICMP && p->proto != IPPROTO_ICMPV6)
			return 0;
		break;
	default:
		if (r->proto != p->proto || p->dport < r->port_lo || p->dport > r->port_hi)
			return 0;
	}
	return local_match(r, local);
}

static __always_inline void count(__u32 idx, int allow)
{
	struct counter *c = bpf_map_lookup_elem(&policy_counters, &idx);
	if (!c)
		return;
	if (allow)
		c->allowed++;
	else
		c->denied++;
}

/* ct_fresh reports whether an admitted flow's entry is still valid, and
 * refreshes its timestamp when it is older than CT_REFRESH: an
 * established flow writes its entry about once a second, not per packet
 * (a write per packet would bounce the entry's cache line between the
 * CPUs of the two directions). */
static __always_inline int ct_fresh(struct ct_val *v, __u8 proto, __u64 now)
{
	__u64 timeout = proto == IPPROTO_TCP ? CT_TIMEOUT_TCP : CT_TIMEOUT_OTHER;
	__u64 last = v->last_seen;
	__s64 age = (__s64)(now - last); /* < 0: written by a later clock read */
	if (age > (__s64)timeout)
		return 0;
	if (age > (__s64)CT_REFRESH)
		v->last_seen = now;
	return 1;
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	struct pkt p = {};
	if (!parse(skb, &p))
		return TC_ACT_OK;

	/* The coarse clock (CLOCK_MONOTONIC at tick resolution) reads the
	 * timekeeper's last tick instead of the clocksource: the timeouts and
	 * the refresh are seconds, and a clocksource read per packet is
	 * costly where the clocksource is not the TSC (VMs). */
	__u64 now = bpf_ktime_get_coarse_ns();
	struct ct_key ck = {
		.ifindex = skb->ifindex,
		.family = p.family,
		.proto = p.proto,
	};
	__u64 s0 = *(__u64 *)p.saddr, s1 = *(__u64 *)(p.saddr + 8);
	__u64 d0 = *(__u64 *)p.daddr, d1 = *(__u64 *)(p.daddr + 8);
	if (s0 < d0 || (s0 == d0 && (s1 < d1 || (s1 == d1 && p.sport <= p.dport)))) {
		ck.port_a = p.sport;
		ck.port_b = p.dport;
		__builtin_memcpy(ck.addr_a, p.saddr, 16);
		__builtin_memcpy(ck.addr_b, p.daddr, 16);
	} else {
		ck.port_a = p.dport;
		ck.port_b = p.sport;
		__builtin_memcpy(ck.addr_a, p.daddr, 16);
		__builtin_memcpy(ck.addr_b, p.saddr, 16);
	}
	struct ct_val *cv = bpf_map_lookup_elem(&policy_conntrack, &ck);
	if (cv && ct_fresh(cv, p.proto, now))
		return TC_ACT_OK; /* a further packet or a reply of an admitted flow */

	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&policy_config, &zero);
	if (!cfg)
		return TC_ACT_OK;
	__u32 gen = cfg->gen;
	struct port_key pk = {.gen = gen, .ifindex = skb->ifindex};
	struct port_val *port = bpf_map_lookup_elem(&policy_ports, &pk);
	if (!port)
		return TC_ACT_OK; /* not enforced in this generation */

	const __u8 *remote = dir == DIR_IN ? p.saddr : p.daddr;
	const __u8 *local = dir == DIR_IN ? p.daddr : p.saddr;
	struct lpm_key lk = {
		.prefixlen = LPM_FIXED_BITS + (p.family == 4 ? 32 : 128),
		.gen = gen,
		.ifindex = skb->ifindex,
		.dir = dir,
		.family = p.family,
	};
	__builtin_memcpy(lk.addr, remote, 16);

	int allow = port->default_allow;
	__u32 counter = port->default_counter;
	struct class_val *cls = bpf_map_lookup_elem(&policy_classes, &lk);
	if (cls) {
		__u32 first = cls->first, n = cls->count;
		for (__u32 i = 0; i < MAX_CLASS_ENTRIES; i++) {
			if (i >= n)
				break;
			__u32 ri = first + i;
			struct rule *r = bpf_map_lookup_elem(&policy_rules, &ri);
			if (!r)
				break;
			if (rule_match(r, &p, local)) {
				allow = r->allow;
				counter = r->counter;
				break;
			}
		}
	}
	count(counter, allow);
	if (!allow)
		return TC_ACT_SHOT;
	struct ct_val nv = {.last_seen = now};
	bpf_map_update_elem(&policy_conntrack, &ck, &nv, BPF_ANY);
	return TC_ACT_OK;
}

SEC("tc")
int policy_in(struct __sk_buff *skb)
{
	return handle(skb, DIR_IN);
}

SEC("tc")
int policy_out(struct __sk_buff *skb)
{
	return handle(skb, DIR_OUT);
}
