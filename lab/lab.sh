#!/usr/bin/env bash
# lab/lab.sh -- evpnhost lab fabric: 2 TORs (FRR, hand-written configs) and
# 3 dual-homed hosts (h1..h3), each in its own network namespace, each with
# its own FRR instance (FRR "pathspace" = namespace name).
#
#   lab.sh up [--reference]   (re)build the lab: down, wires, FRR, TOR config,
#                             then configure the hosts with evpnhost (default)
#                             or with lab/testdata/host-reference.conf.tmpl
#                             (--reference), then wait for convergence.
#   lab.sh down               remove everything the lab created (never fails)
#   lab.sh status             BGP sessions and routes to other VTEPs per host
#   lab.sh exec NS CMD...     ip netns exec <prefix>NS CMD...
#
# Environment:
#   LAB_PREFIX   prefix for namespace / FRR instance names (default: empty),
#                e.g. LAB_PREFIX=t1- gives t1-tor1, t1-h1, ... Interface names
#                inside the namespaces (up1, up2, h1..h3) do not change.
#   EVPNHOST     evpnhost binary (default: <repo>/bin/evpnhost)
#   LAB_TIMEOUT  convergence deadline in seconds (default: 60)
#   LAB_PIMD=1   also start pimd in every instance
#
# See docs/lab.md.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LAB_DIR/.." && pwd)
LAB_PREFIX=${LAB_PREFIX:-}
EVPNHOST=${EVPNHOST:-$REPO_DIR/bin/evpnhost}
LAB_TIMEOUT=${LAB_TIMEOUT:-60}
LAB_PIMD=${LAB_PIMD:-0}

FRR_BIN=/usr/lib/frr
FRR_ETC=/etc/frr
FRR_RUN=/run/frr
FRR_RELOAD=$FRR_BIN/frr-reload.py

TORS=(tor1 tor2)
HOSTS=(h1 h2 h3)
# host uplink -> TOR it is wired to (the TOR port is named after the host)
declare -A UPLINK_TOR=([up1]=tor1 [up2]=tor2)

DAEMONS=(zebra bgpd staticd bfdd)
[[ $LAB_PIMD == 1 ]] && DAEMONS+=(pimd)

# ---------------------------------------------------------------- helpers --

T0=$(date +%s.%N)
log() { printf '%s [+%6.2fs] %s\n' "$(date +%H:%M:%S)" "$(elapsed "$T0")" "$*" >&2; }
warn() { log "WARNING: $*"; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

ns() { echo "${LAB_PREFIX}$1"; }          # node name -> namespace / FRR instance
all_nodes() { echo "${TORS[@]}" "${HOSTS[@]}"; }

# intent_field HOST FIELD: read a scalar from lab/intents/HOST.yaml
# (flat "key: value" lines only; enough for the lab's intents).
intent_field() {
	awk -v k="$2" '$1 == k":" { print $2; exit }' "$LAB_DIR/intents/$1.yaml"
}

# poll SECONDS DESCRIPTION CMD...: run CMD until it succeeds or the deadline
# passes (no fixed sleeps anywhere in the lab).
poll() {
	local deadline=$(( $(date +%s) + $1 )) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		(( $(date +%s) < deadline )) || { warn "timeout waiting for $what"; return 1; }
		sleep 0.1
	done
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

preflight() {
	need_root
	local b
	for b in ip unshare vtysh jq "$FRR_BIN/zebra" "$FRR_RELOAD"; do
		command -v "$b" >/dev/null || [[ -x $b ]] || die "missing: $b"
	done
	id frr >/dev/null 2>&1 || die "user frr missing (install the frr package)"
	if ! command -v ping >/dev/null; then
		log "installing iputils-ping"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iputils-ping >/dev/null
	fi
}

# -------------------------------------------------------------- FRR setup --

# frr_dirs NODE: per-instance dirs. Works on a fresh tmpfs /etc/frr, /run,
# /var/tmp (VM): everything is created here. FRR instance "NS" uses
# /etc/frr/NS/ (config) and /run/frr/NS/ (pid files, vty sockets, zserv.api).
frr_dirs() {
	local n=$1 i d
	i=$(ns "$n")
	# Shared parents: created only if missing (fresh tmpfs in a VM), never
	# re-owned/re-moded when they already exist (the system's FRR owns them).
	# /var/tmp/frr: daemons create <daemon>.<pid>/ crash-log dirs there.
	for d in "$FRR_ETC" "$FRR_RUN" /var/tmp/frr; do
		[[ -d $d ]] || install -d -o frr -g frr -m 0755 "$d"
	done
	# frr-reload.py writes its temp files to /var/run/frr (not pathspaced) and
	# its log to /var/log/frr/frr-reload.log (creates the dir itself).
	install -d -o frr -g frr -m 0755 "$FRR_ETC/$i" "$FRR_RUN/$i"
	# Minimal integrated config: lets "vtysh -N NS" and
	# "frr-reload.py --pathspace NS" work. Daemons started without watchfrr
	# do NOT read frr.conf themselves; it is loaded with "vtysh -N NS -b".
	cat >"$FRR_ETC/$i/frr.conf" <<-EOF
		frr defaults datacenter
		hostname $n
		service integrated-vtysh-config
		!
	EOF
	# QUIRK: vtysh prints its OWN hostname (from vtysh.conf, else uname)
	# into "show running-config" next to the daemons' one; without this line
	# frr-reload.py always sees "hostname <machine>" and wants to delete it.
	cat >"$FRR_ETC/$i/vtysh.conf" <<-EOF
		service integrated-vtysh-config
		hostname $n
	EOF
	chown frr:frr "$FRR_ETC/$i/frr.conf" "$FRR_ETC/$i/vtysh.conf"
	chmod 0640 "$FRR_ETC/$i/frr.conf" "$FRR_ETC/$i/vtysh.conf"
}

# frr_start_daemon NODE DAEMON
frr_start_daemon() {
	local n=$1 d=$2 i
	i=$(ns "$n")
	# -N NS        pathspace: /etc/frr/NS, /run/frr/NS (vty sockets, zserv.api,
	#              bfdd.sock are all pathspaced: no -z / --vty_socket needed)
	# -F datacenter  profile, matches "frr defaults datacenter"
	# -P 0         no TCP vty (each netns would otherwise bind 260x; the unix
	#              sockets in /run/frr/NS are what vtysh uses)
	# --log        per-instance log files, cleaned up with /run/frr/NS
	# QUIRK: "hostname X" sent through vtysh does not stick in the daemons
	# (8.4: they keep uname's name), so each daemon gets its own UTS namespace
	# whose hostname is the node name. ip netns exec does not do UTS.
	# stderr: only what is printed before logging is set up; zebra's
	# "Disabling MPLS support (no kernel support)" is expected (no mpls module).
	local err rc=0
	err=$(mktemp)
	# shellcheck disable=SC2016 # $0/$@ are expanded by the inner sh
	ip netns exec "$i" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$n" \
		"$FRR_BIN/$d" -d -N "$i" -F datacenter -P 0 \
		--log "file:$FRR_RUN/$i/$d.log" --log-level informational 2>"$err" || rc=$?
	grep -v 'Disabling MPLS support' "$err" >&2 || true
	rm -f "$err"
	(( rc == 0 )) || die "$d of $i failed to start (rc=$rc)"
}

# frr_start NODE: zebra first; the others only once zebra's vty socket exists
# (bgpd/staticd connect to zserv.api at start and retry slowly otherwise).
frr_start() {
	local n=$1 i d
	i=$(ns "$n")
	frr_dirs "$n"
	frr_start_daemon "$n" zebra
	poll 10 "$i zebra.vty" test -S "$FRR_RUN/$i/zebra.vty" || die "zebra of $i did not start"
	for d in "${DAEMONS[@]:1}"; do
		frr_start_daemon "$n" "$d"
	done
	for d in "${DAEMONS[@]}"; do
		poll 10 "$i $d.vty" test -S "$FRR_RUN/$i/$d.vty" || die "$d of $i did not start"
	done
	poll 10 "vtysh -N $i" vtysh -N "$i" -c 'show version' || die "vtysh -N $i does not answer"
}

# frr_pids NS...: pids of FRR daemons of the given instances: a binary from
# /usr/lib/frr with the exact argv pair "-N NS" (no pattern matching that
# could hit another instance or the system's FRR).
frr_pids() {
	local p k
	local -a argv
	local -A want=()
	for k in "$@"; do want[$k]=1; done
	for p in /proc/[0-9]*; do
		# bash builtins only: this runs for every process on the machine
		mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
		[[ ${argv[0]:-} == "$FRR_BIN"/* ]] || continue
		for ((k = 1; k < ${#argv[@]}; k++)); do
			if [[ ${argv[k - 1]} == -N && -n ${want[${argv[k]}]:-} ]]; then
				echo "${p#/proc/}"
				break
			fi
		done
	done
	return 0
}

no_frr_pids() { [[ -z $(frr_pids "$@") ]]; }

# frr_stop NS...: SIGTERM every daemon of all given instances at once (each
# daemon needs 1-2 s for its graceful exit, so never one after the other),
# poll until gone, SIGKILL what is left after 10 s.
frr_stop() {
	local i f pid
	local -a pids
	for i in "$@"; do
		for f in "$FRR_RUN/$i"/*.pid; do
			[[ -e $f ]] || continue
			pid=$(cat "$f" 2>/dev/null || true)
			# pid files can be stale: only signal a pid that is really ours
			if [[ -n $pid ]] && grep -qxF "$pid" <<<"$(frr_pids "$i")"; then
				kill "$pid" 2>/dev/null || true
			fi
		done
	done
	# whatever else still runs with "-N NS" (pid file gone or never written)
	mapfile -t pids < <(frr_pids "$@")
	(( ${#pids[@]} )) || return 0
	kill "${pids[@]}" 2>/dev/null || true
	if ! poll 10 "FRR daemons to exit" no_frr_pids "$@"; then
		mapfile -t pids < <(frr_pids "$@")
		(( ${#pids[@]} )) || return 0
		kill -9 "${pids[@]}" 2>/dev/null || true
		# SIGKILLed daemons leave their crash-log dir <daemon>.<pid>
		for pid in "${pids[@]}"; do rm -rf /var/tmp/frr/*."$pid"; done
	fi
	return 0
}

# --------------------------------------------------------------- topology --

wires() {
	local n t up
	for n in $(all_nodes); do
		ip netns add "$(ns "$n")"
	done
	for n in "${HOSTS[@]}"; do
		for up in up1 up2; do
			t=${UPLINK_TOR[$up]}
			# created directly inside both namespaces: no temporary names in
			# the root namespace, so two labs (LAB_PREFIX) never clash.
			ip link add "$up" netns "$(ns "$n")" mtu 1500 type veth \
				peer name "$n" netns "$(ns "$t")" mtu 1500
			log "  wire $(ns "$n"):$up <-> $(ns "$t"):$n"
		done
	done
}

# TOR sysctls (hosts' are evpnhost's job), then links up.
tor_kernel() {
	local t=$1 i h
	i=$(ns "$t")
	ip netns exec "$i" sh -ec '
		sysctl -qw net.ipv4.ip_forward=1
		sysctl -qw net.ipv6.conf.all.forwarding=1
		sysctl -qw net.ipv6.conf.default.forwarding=1
		sysctl -qw net.ipv4.conf.all.rp_filter=0
		sysctl -qw net.ipv4.conf.default.rp_filter=0
		sysctl -qw net.ipv6.conf.all.disable_ipv6=0
		sysctl -qw net.ipv6.conf.default.disable_ipv6=0'
	ip -n "$i" link set lo up
	for h in "${HOSTS[@]}"; do
		ip netns exec "$i" sysctl -qw "net.ipv6.conf.$h.disable_ipv6=0" "net.ipv4.conf.$h.rp_filter=0"
		ip -n "$i" link set "$h" up
	done
}

host_links_up() {
	local i
	i=$(ns "$1")
	ip -n "$i" link set up1 up
	ip -n "$i" link set up2 up
}

tor_config() {
	local t=$1 i
	i=$(ns "$t")
	install -o frr -g frr -m 0640 "$LAB_DIR/$t.conf" "$FRR_ETC/$i/frr.conf"
	vtysh -N "$i" -b >/dev/null
}

# ------------------------------------------------------------------ hosts --

# Kernel side of a host, as evpnhost would do it (reference mode only).
host_kernel_reference() {
	local h=$1 i vtep
	i=$(ns "$h")
	vtep=$(intent_field "$h" vtep)
	ip -n "$i" link set lo up
	ip -n "$i" addr replace "$vtep/32" dev lo
	ip netns exec "$i" sh -ec '
		sysctl -qw net.ipv4.ip_forward=1
		sysctl -qw net.ipv6.conf.all.forwarding=1
		sysctl -qw net.ipv4.conf.all.rp_filter=0
		sysctl -qw net.ipv4.conf.default.rp_filter=0
		sysctl -qw net.ipv6.conf.up1.disable_ipv6=0
		sysctl -qw net.ipv6.conf.up2.disable_ipv6=0'
}

render_reference() {
	local h=$1
	sed -e "s/@HOST@/$h/g" -e "s/@ASN@/$(intent_field "$h" asn)/g" \
		-e "s/@VTEP@/$(intent_field "$h" vtep)/g" \
		"$LAB_DIR/testdata/host-reference.conf.tmpl"
}

host_config_reference() {
	local h=$1 i f
	i=$(ns "$h")
	f=$FRR_ETC/$i/frr.conf
	host_kernel_reference "$h"
	render_reference "$h" >"$f.new"
	chown frr:frr "$f.new"; chmod 0640 "$f.new"
	mv "$f.new" "$f"
	# Same path evpnhost takes: frr-reload.py against the pathspace.
	"$FRR_RELOAD" --pathspace "$i" --test "$f" >/dev/null 2>&1 ||
		die "frr-reload.py --pathspace $i --test failed"
	"$FRR_RELOAD" --pathspace "$i" --reload "$f" >/dev/null 2>&1 ||
		die "frr-reload.py --pathspace $i --reload failed (see /var/log/frr/frr-reload.log)"
}

host_config_evpnhost() {
	local h=$1 i
	i=$(ns "$h")
	ip netns exec "$i" "$EVPNHOST" apply -f "$LAB_DIR/intents/$h.yaml" --frr-instance "$i"
}

# ------------------------------------------------------------ convergence --

# established NS: every configured BGP peer of the instance is Established.
established() {
	vtysh -N "$1" -c 'show bgp summary json' 2>/dev/null | jq -e '
		[.[] | objects | .peers // {} | to_entries[] | .value.state] as $s
		| ($s | length) > 0 and all($s[]; . == "Established")' >/dev/null
}

# ecmp_to NS VTEP: kernel route to VTEP has a next hop via up1 AND via up2.
ecmp_to() {
	local r
	r=$(ip -n "$1" route show "$2/32")
	grep -q 'dev up1' <<<"$r" && grep -q 'dev up2' <<<"$r"
}

ping_from() {
	ip netns exec "$1" ping -c1 -W1 -I "$2" "$3"
}

# left END: seconds until epoch END (>= 0)
left() { local l=$(( $1 - $(date +%s) )); echo $(( l > 0 ? l : 0 )); }

converge() {
	local t_start end h t o i vtep ovtep failed=0
	t_start=$(date +%s.%N)
	end=$(( $(date +%s) + LAB_TIMEOUT ))   # one deadline for everything
	for h in "${HOSTS[@]}"; do
		i=$(ns "$h")
		poll "$(left "$end")" "$i BGP sessions" established "$i" || failed=1
	done
	for t in "${TORS[@]}"; do
		poll "$(left "$end")" "$(ns "$t") BGP sessions" established "$(ns "$t")" || failed=1
	done
	(( failed )) || log "  BGP sessions Established after $(elapsed "$t_start")s"
	for h in "${HOSTS[@]}"; do
		i=$(ns "$h")
		vtep=$(intent_field "$h" vtep)
		for o in "${HOSTS[@]}"; do
			[[ $o == "$h" ]] && continue
			ovtep=$(intent_field "$o" vtep)
			poll "$(left "$end")" "$i ECMP route to $ovtep" ecmp_to "$i" "$ovtep" || failed=1
			poll "$(left "$end")" "$i ping $vtep -> $ovtep" ping_from "$i" "$vtep" "$ovtep" || failed=1
		done
	done
	if (( failed )); then
		status >&2 || true
		die "lab did not converge within ${LAB_TIMEOUT}s"
	fi
	log "converged: all sessions Established, ECMP via up1+up2, VTEP pings OK in $(elapsed "$t_start")s"
}

# --------------------------------------------------------------- commands --

cmd_down() {
	local n i
	local -a inst=()
	need_root
	for n in $(all_nodes); do inst+=("$(ns "$n")"); done
	frr_stop "${inst[@]}"
	for i in "${inst[@]}"; do
		if ip netns list | awk '{print $1}' | grep -qxF "$i"; then
			ip netns del "$i" 2>/dev/null || warn "could not delete netns $i"
		fi
		# only the lab's own instance dirs; /etc/frr, /run/frr stay
		rm -rf -- "${FRR_ETC:?}/$i" "${FRR_RUN:?}/$i"
	done
	log "lab${LAB_PREFIX:+ $LAB_PREFIX} down"
}

cmd_up() {
	local mode=evpnhost n t h
	case ${1:-} in
		--reference) mode=reference ;;
		"") ;;
		*) die "usage: lab.sh up [--reference]" ;;
	esac
	preflight
	log "down (idempotent up)"
	cmd_down
	log "namespaces and wires"
	wires
	for t in "${TORS[@]}"; do tor_kernel "$t"; done
	for h in "${HOSTS[@]}"; do host_links_up "$h"; done
	log "FRR instances (${DAEMONS[*]})"
	for n in $(all_nodes); do
		frr_start "$n"
		log "  $(ns "$n") FRR up"
	done
	log "TOR configs"
	for t in "${TORS[@]}"; do
		tor_config "$t"
		log "  $(ns "$t") <- lab/$t.conf"
	done
	case $mode in
		reference)
			log "hosts: reference config (lab/testdata/host-reference.conf.tmpl)"
			for h in "${HOSTS[@]}"; do
				host_config_reference "$h"
				log "  $(ns "$h") configured (AS $(intent_field "$h" asn), VTEP $(intent_field "$h" vtep))"
			done
			;;
		evpnhost)
			if [[ ! -x $EVPNHOST ]]; then
				warn "$EVPNHOST not found: hosts NOT configured (fabric only)."
				warn "build it, or run 'lab.sh up --reference'"
				log "lab up (fabric only) in $(elapsed "$T0")s"
				return 0
			fi
			log "hosts: evpnhost apply ($EVPNHOST)"
			for h in "${HOSTS[@]}"; do
				host_config_evpnhost "$h"
				log "  $(ns "$h") configured by evpnhost"
			done
			;;
	esac
	log "waiting for convergence (deadline ${LAB_TIMEOUT}s)"
	converge
	log "lab up in $(elapsed "$T0")s"
}

status() {
	local h i o ovtep r
	printf '%-8s %-6s %-12s %-12s %-10s %-12s %s\n' HOST PEER REMOTE STATE UPTIME "PFX rcv/snt" AF
	for h in "${HOSTS[@]}"; do
		i=$(ns "$h")
		if [[ ! -S $FRR_RUN/$i/bgpd.vty ]]; then
			printf '%-8s (no FRR instance)\n' "$i"
			continue
		fi
		{ vtysh -N "$i" -c 'show bgp summary json' 2>/dev/null || echo '{}'; } | jq -r --arg h "$i" '
			to_entries[] | select(.value | type == "object" and has("peers")) | .key as $af
			| .value.peers | to_entries[]
			| [$h, .key, "\(.value.hostname // "?")/\(.value.remoteAs // "?")", .value.state,
			   (.value.peerUptime // "-"), "\(.value.pfxRcd // 0)/\(.value.pfxSnt // 0)", $af] | @tsv' |
			awk -F'\t' -v h="$i" '{ printf "%-8s %-6s %-12s %-12s %-10s %-12s %s\n", $1, $2, $3, $4, $5, $6, $7 }
				END { if (NR == 0) printf "%-8s (no BGP sessions configured)\n", h }'
	done
	echo
	printf '%-8s %-10s %s\n' HOST VTEP "NEXT HOPS (kernel)"
	for h in "${HOSTS[@]}"; do
		i=$(ns "$h")
		ip netns list | awk '{print $1}' | grep -qxF "$i" || continue
		for o in "${HOSTS[@]}"; do
			[[ $o == "$h" ]] && continue
			ovtep=$(intent_field "$o" vtep)
			r=$(ip -n "$i" route show "$ovtep/32" | grep -o 'via inet6 [^ ]* dev [^ ]*\|via [0-9.]* dev [^ ]*' |
				sed 's/^via //; s/^inet6 //' | sort -k3 | paste -sd, - || true)
			printf '%-8s %-10s %s\n' "$i" "$ovtep" "${r:-(none)}"
		done
	done
}

cmd_status() {
	need_root
	status
}

cmd_exec() {
	(( $# >= 2 )) || die "usage: lab.sh exec NS CMD..."
	local n=$1
	shift
	exec ip netns exec "$(ns "$n")" "$@"
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

main() {
	local c=${1:-}
	(( $# )) && shift
	case $c in
		up) cmd_up "$@" ;;
		down) cmd_down ;;
		status) cmd_status ;;
		exec) cmd_exec "$@" ;;
		*) usage ;;
	esac
}

main "$@"
