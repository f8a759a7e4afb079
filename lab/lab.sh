#!/usr/bin/env bash
# lab/lab.sh -- evpnhost lab fabric: 2 TORs (FRR, hand-written configs) and
# 3 dual-homed hosts (h1..h3), each in its own network namespace, each with
# its own FRR instance (FRR "pathspace" = namespace name). Around them:
# workload namespaces (one per "workloads:" entry of lab/intents/hN.yaml,
# rtap3 behind a TAP like a VM), a bare-metal server bm1 on tor1's
# hand-configured VNI 10, and tor2 as the border of tenant red towards ext.
#
#   lab.sh up [--reference]   (re)build the lab: down, wires, TOR devices,
#                             FRR, TOR config, workloads,
#                             then configure the hosts with evpnhost (default)
#                             or with lab/testdata/host-reference.conf.tmpl
#                             (--reference), then wait for convergence.
#   lab.sh down               remove everything the lab created (never fails)
#   lab.sh status             BGP sessions and routes to other VTEPs per host
#   lab.sh exec NS CMD...     ip netns exec <prefix>NS CMD...
#   lab.sh vtysh NODE ARGS... vtysh -N <prefix>NODE ARGS, with NODE's FRR
#                             (a TOR's from LAB_TOR_ROOT when set)
#   lab.sh frr-restart NODE   restart all FRR daemons of a host (unconfigured;
#                             its agent configures them again) or of a TOR
#                             (configured again from lab/TOR.conf)
#   lab.sh host-down HOST     power a host off: its FRR, tapwire, namespace
#                             (so its uplinks: the TOR ports go too) and its
#                             workload namespaces are destroyed
#   lab.sh host-up HOST [--no-converge]
#                             boot it again: namespace, uplinks, FRR, its
#                             workloads, evpnhost apply, wait for convergence
#                             (--no-converge: return after the apply, so that
#                             a caller starts the host's agent first, as a
#                             boot does; then lab.sh converge)
#   lab.sh reboot HOST        host-down, then host-up
#   lab.sh converge           wait for convergence (what up ends with)
#
# Environment:
#   LAB_PREFIX   prefix for namespace / FRR instance names (default: empty),
#                e.g. LAB_PREFIX=t1- gives t1-tor1, t1-h1, ... Interface names
#                inside the namespaces (up1, up2, h1..h3) do not change.
#   EVPNHOST     evpnhost binary (default: <repo>/bin/evpnhost)
#   LAB_TIMEOUT  convergence deadline in seconds (default: 60)
#   LAB_PIMD=0   do not start pimd (default 1: the lab has a multicast network)
#   TAPWIRE      TAP relay binary (default: <repo>/bin/tapwire, built from
#                lab/tapwire when missing or older than its source)
#   LAB_TOR_ROOT another system's root directory (e.g. a Debian 13 root on
#                Debian 12): the TORs' FRR (daemons and vtysh) runs from it,
#                chrooted, so TORs and hosts run different FRR versions
#                (e2e/vm/run.sh --alt-platform mounts one at
#                /run/evpnhost-alt). Default: empty, the system's own FRR.
#   LAB_INTENTS  directory of the hosts' intents (hN.yaml, every host's):
#                what host-up applies and whose workloads it creates, what
#                host-down removes (default: lab/intents; the scale test
#                e2e/scale_test.go boots h1 and h2 with its own).
#
# See docs/lab.md.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LAB_DIR/.." && pwd)
LAB_PREFIX=${LAB_PREFIX:-}
EVPNHOST=${EVPNHOST:-$REPO_DIR/bin/evpnhost}
LAB_TIMEOUT=${LAB_TIMEOUT:-60}
LAB_PIMD=${LAB_PIMD:-1}
LAB_TOR_ROOT=${LAB_TOR_ROOT:-}
LAB_INTENTS=${LAB_INTENTS:-$LAB_DIR/intents}
TAPWIRE=${TAPWIRE:-$REPO_DIR/bin/tapwire}
# pid and log files of the lab's background processes (tapwire)
LAB_RUN=/run/evpnhost-lab

FRR_BIN=/usr/lib/frr
FRR_ETC=/etc/frr
FRR_RUN=/run/frr
FRR_RELOAD=$FRR_BIN/frr-reload.py

TORS=(tor1 tor2)
HOSTS=(h1 h2 h3)
# host uplink -> TOR it is wired to (the TOR port is named after the host)
declare -A UPLINK_TOR=([up1]=tor1 [up2]=tor2)
# namespaces of the edge nodes (no FRR): bare-metal server behind tor1 and
# the "internet" behind tor2
EDGES=(bm1 ext)
# workload MTU: underlay 1500 - 50 bytes VXLAN/UDP/IP/Ethernet overhead
WL_MTU=1450

# frr_version [ROOT]: "MAJOR.MINOR" of the FRR installed (in ROOT), from
# zebra itself (the lab runs on FRR 8.4 and on 10.x: the version decides,
# never the distribution's name).
frr_version() {
	local v
	if [[ -n ${1:-} ]]; then
		v=$(chroot "$1" "$FRR_BIN/zebra" --version 2>/dev/null | awk '/ version / { print $NF; exit }')
	else
		v=$("$FRR_BIN/zebra" --version 2>/dev/null | awk '/ version / { print $NF; exit }')
	fi
	[[ $v =~ ^([0-9]+)\.([0-9]+) ]] || { echo "0.0"; return; }
	echo "${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
}
FRR_VERSION=$(frr_version)
FRR_MAJOR=${FRR_VERSION%%.*}
FRR_MINOR=${FRR_VERSION#*.}
TOR_FRR_VERSION=$FRR_VERSION
if [[ -n $LAB_TOR_ROOT ]]; then
	[[ -x $LAB_TOR_ROOT$FRR_BIN/zebra ]] || { echo "lab.sh: LAB_TOR_ROOT=$LAB_TOR_ROOT has no $FRR_BIN/zebra" >&2; exit 1; }
	TOR_FRR_VERSION=$(frr_version "$LAB_TOR_ROOT")
fi

is_tor() { [[ " ${TORS[*]} " == *" $1 "* ]]; }

# node_root NODE: the root directory NODE's FRR runs from ("" = /).
node_root() { if is_tor "$1"; then echo "$LAB_TOR_ROOT"; fi; }

# node_frr_version NODE: MAJOR.MINOR of NODE's FRR.
node_frr_version() { if is_tor "$1"; then echo "$TOR_FRR_VERSION"; else echo "$FRR_VERSION"; fi; }

# frr_at_least NODE MAJOR MINOR: NODE's FRR is MAJOR.MINOR or newer.
frr_at_least() {
	local v ma mi
	v=$(node_frr_version "$1")
	ma=${v%%.*} mi=${v#*.}
	(( ma > $2 || (ma == $2 && mi >= $3) ))
}

# node_daemons NODE: NODE's FRR daemons, in start order. FRR >= 9: zebra's
# and staticd's configuration goes through mgmtd, which must run first
# (without it vtysh -b / frr-reload.py skip "vrf X / vni N" and "ip route"
# lines silently). frr_start starts the daemons up to zebra one at a time,
# each once the one before answers.
node_daemons() {
	local d=(zebra bgpd staticd bfdd)
	frr_at_least "$1" 9 0 && d=(mgmtd "${d[@]}")
	[[ $LAB_PIMD == 1 ]] && d+=(pimd)
	echo "${d[@]}"
}

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
	awk -v k="$2" '$1 == k":" { print $2; exit }' "$LAB_INTENTS/$1.yaml"
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

# stop_pidfile WHAT FILE CHECK [ARG...]: end the process FILE names, if
# `CHECK PID ARG...` says it is still ours (pid files can be stale): TERM,
# then KILL after 5 s. FILE is removed either way.
stop_pidfile() {
	local what=$1 f=$2 check=$3 pid
	shift 3
	[[ -e $f ]] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	if [[ -n $pid ]] && "$check" "$pid" "$@"; then
		kill "$pid" 2>/dev/null || true
		poll 5 "$what $pid to exit" not "$check" "$pid" "$@" || kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# not CMD...: CMD fails (for poll).
not() { ! "$@"; }

need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

preflight() {
	need_root
	local b
	for b in ip unshare vtysh jq "$FRR_BIN/zebra" "$FRR_RELOAD"; do
		command -v "$b" >/dev/null || [[ -x $b ]] || die "missing: $b"
	done
	id frr >/dev/null 2>&1 || die "user frr missing (install the frr package)"
	local n r
	for n in $(all_nodes); do
		frr_at_least "$n" 9 0 || continue
		r=$(node_root "$n")
		[[ -x $r$FRR_BIN/mgmtd ]] || die "FRR $(node_frr_version "$n") needs $r$FRR_BIN/mgmtd, which is missing"
	done
	if frr_at_least h1 9 0 || frr_at_least tor1 9 0; then
		# mgmtd -N NS reads these from the non-pathspaced /etc/frr, so they
		# would end up in every lab instance.
		for b in "$FRR_ETC/zebra.conf" "$FRR_ETC/staticd.conf"; do
			[[ ! -s $b ]] || warn "$b is not empty: the mgmtd of every lab instance loads it"
		done
	fi
	if [[ -n $LAB_TOR_ROOT ]]; then
		[[ -n $(frr_ids tor1) ]] || die "no user frr in $LAB_TOR_ROOT/etc/passwd"
		log "TORs run FRR $TOR_FRR_VERSION from $LAB_TOR_ROOT, hosts FRR $FRR_VERSION"
	fi
	if ! command -v ping >/dev/null; then
		log "installing iputils-ping"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iputils-ping >/dev/null
	fi
}

# -------------------------------------------------------------- FRR setup --

# frr_ids NODE: "uid:gid" of user frr for NODE's FRR (the users of two
# systems need not match).
frr_ids() {
	local r
	r=$(node_root "$1")
	if [[ -n $r ]]; then
		awk -F: '$1 == "frr" { print $3 ":" $4; exit }' "$r/etc/passwd"
	else
		echo frr:frr
	fi
}

# CHROOT_SH: sh -c script, args HOSTNAME ROOT UID:GID CMD...: run CMD
# chrooted into ROOT (HOSTNAME "-": keep the hostname). Run it in a private
# mount namespace (unshare --mount): ROOT's /proc, /sys, /dev, /run, /tmp,
# /etc/frr and /var/log become this system's (so the instance's sockets and
# configs, and a network namespace's /sys, are shared; ROOT itself is not
# changed), /var/tmp a fresh tmpfs holding /var/tmp/frr for ROOT's frr user.
# The mounts go with the last process of the namespace.
# shellcheck disable=SC2016 # expanded by the inner sh
CHROOT_SH='
h=$0 r=$1 ids=$2
shift 2
[ "$h" = - ] || hostname "$h"
for d in proc sys dev run tmp etc/frr var/log; do
	mount --bind "/$d" "$r/$d"
done
mount -t tmpfs -o mode=1777 tmpfs "$r/var/tmp"
mkdir "$r/var/tmp/frr"
chown "$ids" "$r/var/tmp/frr"
exec chroot "$r" "$@"'

# vtysh_argv NODE VAR: set array VAR to the command that runs NODE's
# vtysh on NODE's instance ("vtysh -N <instance>", chrooted into NODE's
# root if it has one, see CHROOT_SH). A command, not a function, so that
# timeout(1) can run it.
vtysh_argv() {
	local n=$1 r
	local -n argv=$2
	argv=(vtysh -N "$(ns "$n")")
	r=$(node_root "$n")
	[[ -z $r ]] || argv=(unshare --mount --propagation private sh -ec "$CHROOT_SH" - "$r" "$(frr_ids "$n")" "${argv[@]}")
}

# node_vtysh NODE ARGS...: vtysh -N <instance> ARGS with NODE's FRR.
node_vtysh() {
	local -a cmd
	vtysh_argv "$1" cmd
	shift
	"${cmd[@]}" "$@"
}

# frr_dirs NODE: per-instance dirs. Works on a fresh tmpfs /etc/frr, /run,
# /var/tmp (VM): everything is created here. FRR instance "NS" uses
# /etc/frr/NS/ (config) and /run/frr/NS/ (pid files, vty sockets, zserv.api).
frr_dirs() {
	local n=$1 i d ids
	i=$(ns "$n")
	# Shared parents: created only if missing (fresh tmpfs in a VM), never
	# re-owned/re-moded when they already exist (the system's FRR owns them).
	# /var/tmp/frr: daemons create <daemon>.<pid>/ crash-log dirs there.
	for d in "$FRR_ETC" "$FRR_RUN" /var/tmp/frr; do
		[[ -d $d ]] || install -d -o frr -g frr -m 0755 "$d"
	done
	# frr-reload.py writes its temp files to /var/run/frr (not pathspaced) and
	# its log to /var/log/frr/frr-reload.log (creates the dir itself).
	ids=$(frr_ids "$n")
	install -d -o "${ids%:*}" -g "${ids#*:}" -m 0755 "$FRR_ETC/$i" "$FRR_RUN/$i"
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
	chown "$ids" "$FRR_ETC/$i/frr.conf" "$FRR_ETC/$i/vtysh.conf"
	chmod 0640 "$FRR_ETC/$i/frr.conf" "$FRR_ETC/$i/vtysh.conf"
}

# frr_start_daemon NODE DAEMON
# zebra_opts: zebra gets a large netlink receive buffer (-s), as in
# Debian's /etc/frr/daemons: evpnhost creates dozens of devices in one
# burst and an overrun socket makes zebra miss interface addresses.
zebra_opts=(-s 90000000)

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
	# stdin/stdout /dev/null: FRR 10's daemons keep the stdio they were
	# started with after -d (8.4's reopen it on /dev/null), and a daemon
	# holding lab.sh's stdout pipe keeps whoever reads it (the e2e tests)
	# waiting for its end forever.
	# A TOR with a root of its own (LAB_TOR_ROOT) runs chrooted (CHROOT_SH).
	local err rc=0 zebra_extra=() r wrap
	[[ $d == zebra ]] && zebra_extra=("${zebra_opts[@]}")
	r=$(node_root "$n")
	# shellcheck disable=SC2016 # $0/$@ are expanded by the inner sh
	wrap=(unshare --uts sh -c 'hostname "$0" && exec "$@"' "$n")
	[[ -z $r ]] || wrap=(unshare --uts --mount --propagation private sh -ec "$CHROOT_SH" "$n" "$r" "$(frr_ids "$n")")
	err=$(mktemp)
	ip netns exec "$i" "${wrap[@]}" \
		"$FRR_BIN/$d" -d -N "$i" -F datacenter -P 0 ${zebra_extra[@]+"${zebra_extra[@]}"} \
		--log "file:$FRR_RUN/$i/$d.log" --log-level informational </dev/null >/dev/null 2>"$err" || rc=$?
	# FRR 10 warns about any fd limit above 100000 (the VM sets 1048576).
	grep -v -e 'Disabling MPLS support' -e 'FD Limit set: .* is stupidly large' "$err" >&2 || true
	rm -f "$err"
	(( rc == 0 )) || die "$d of $i failed to start (rc=$rc)"
}

# frr_start NODE: zebra first (FRR >= 9: mgmtd, then zebra), each alone
# until its vty socket exists; the others after that (bgpd/staticd connect
# to zserv.api at start and retry slowly otherwise; zebra and staticd
# connect to mgmtd's backend socket).
frr_start() {
	local n=$1 i d rest
	read -r -a rest <<<"$(node_daemons "$n")"
	i=$(ns "$n")
	frr_dirs "$n"
	while (( ${#rest[@]} )); do
		d=${rest[0]}
		rest=("${rest[@]:1}")
		frr_start_daemon "$n" "$d"
		poll 60 "$i $d.vty" test -S "$FRR_RUN/$i/$d.vty" || die "$d of $i did not start"
		[[ $d == zebra ]] && break
	done
	for d in "${rest[@]}"; do
		frr_start_daemon "$n" "$d"
	done
	for d in $(node_daemons "$n"); do
		poll 60 "$i $d.vty" test -S "$FRR_RUN/$i/$d.vty" || die "$d of $i did not start"
	done
	poll 60 "vtysh -N $i" node_vtysh "$n" -c 'show version' || die "vtysh -N $i does not answer"
	pimd_watch_start "$n"
}

# -------------------------------------------------------- pimd watcher --
# FRR 10.0 to 10.2.2 and 10.3.0 (Debian 13's 10.3) free pimd's VXLAN work
# list, which every VRF shares, when any VRF is deleted; pimd then crashes
# (SIGSEGV in pim_vxlan_work_timer_cb) at its next periodic null-register
# round, within 60 s (FRRouting/frr#18672, fixed in 10.2.3 and 10.3.1). So
# removing a tenant on such a host kills pimd. Debian runs FRR under
# watchfrr, which restarts a daemon that exits and loads its part of
# frr.conf (watchfrr.sh restart DAEMON: vtysh -b -d DAEMON). The lab's
# daemons run without watchfrr, so on FRR >= 10 hosts running pimd a
# watcher does that for pimd alone (the fault tests kill and start zebra
# and mgmtd themselves). Each restart is logged to $LAB_RUN/NS-pimd-watch.log.

pimd_watch_pidfile() { echo "$LAB_RUN/$1-pimd-watch.pid"; }

# is_pimd_watch PID NODE: PID is NODE's watcher (pid files can be stale).
is_pimd_watch() {
	local -a argv
	mapfile -d '' -t argv 2>/dev/null <"/proc/$1/cmdline" || return 1
	[[ ${argv[*]} == *" _pimd-watch $2" ]]
}

# pimd_watch_start NODE: (re)start NODE's watcher if NODE needs one.
pimd_watch_start() {
	local n=$1 i
	if ! is_host "$n" || [[ $LAB_PIMD != 1 ]] || ! frr_at_least "$n" 10 0; then return 0; fi
	i=$(ns "$n")
	pimd_watch_stop "$i"
	install -d -m 0755 "$LAB_RUN"
	# setsid and its own stdio: it must not hold lab.sh's output open.
	setsid bash "${BASH_SOURCE[0]}" _pimd-watch "$n" </dev/null >>"$LAB_RUN/$i-pimd-watch.log" 2>&1 &
	echo "$!" >"$(pimd_watch_pidfile "$i")"
}

# pimd_watch_stop NS: end NS's watcher (before its daemons are stopped, so
# that it does not start pimd again).
pimd_watch_stop() {
	stop_pidfile "pimd watcher" "$(pimd_watch_pidfile "$1")" is_pimd_watch "${1#"$LAB_PREFIX"}"
}

# cmd_pimd_watch NODE: the watcher's loop (lab.sh _pimd-watch NODE).
cmd_pimd_watch() {
	local n=$1 i pid=
	i=$(ns "$n")
	trap 'exit 0' TERM
	while :; do
		sleep 1 &
		wait $! || true
		[[ -d $FRR_RUN/$i ]] || continue
		pid=
		read -r pid 2>/dev/null <"$FRR_RUN/$i/pimd.pid" || true
		[[ -n $pid ]] || continue
		kill -0 "$pid" 2>/dev/null && continue
		log "$i: pimd (pid $pid) exited; restarting it and loading its part of frr.conf, as watchfrr would. Its log ends:"
		tail -n 5 "$FRR_RUN/$i/pimd.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		if ! (frr_start_daemon "$n" pimd); then
			# as watchfrr, not in a tight loop: the next try in 10 s
			warn "$i: pimd did not start; trying again in 10 s"
			sleep 10 &
			wait $! || true
			continue
		fi
		if ! poll 60 "$i pimd.vty" test -S "$FRR_RUN/$i/pimd.vty"; then
			continue
		fi
		if node_vtysh "$n" -b -d pimd >/dev/null 2>&1; then
			log "$i: pimd restarted (pid $(cat "$FRR_RUN/$i/pimd.pid" 2>/dev/null)) and configured"
		else
			warn "$i: pimd restarted, but vtysh -b -d pimd failed"
		fi
	done
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
	for i in "$@"; do pimd_watch_stop "$i"; done
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
	local n
	for n in $(all_nodes); do
		ip netns add "$(ns "$n")"
	done
	for n in "${HOSTS[@]}"; do
		host_wires "$n"
	done
}

# host_wires HOST: the host's two uplinks (its namespace and the TORs'
# exist).
host_wires() {
	local n=$1 t up
	for up in up1 up2; do
		t=${UPLINK_TOR[$up]}
		# created directly inside both namespaces: no temporary names in
		# the root namespace, so two labs (LAB_PREFIX) never clash.
		ip link add "$up" netns "$(ns "$n")" mtu 1500 type veth \
			peer name "$n" netns "$(ns "$t")" mtu 1500
		log "  wire $(ns "$n"):$up <-> $(ns "$t"):$n"
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
		tor_port_up "$t" "$h"
	done
}

# tor_port_up TOR HOST: the TOR's port to HOST: IPv6 on, rp_filter 0, up.
tor_port_up() {
	local i
	i=$(ns "$1")
	ip netns exec "$i" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=0" "net.ipv4.conf.$2.rp_filter=0"
	ip -n "$i" link set "$2" up
}

host_links_up() {
	local i
	i=$(ns "$1")
	ip -n "$i" link set up1 up
	ip -n "$i" link set up2 up
}

# tor_config TOR: load lab/TOR.conf into the TOR's instance. The files are
# written in FRR 8.4's syntax; on FRR >= 10.2 global PIM lines ("ip pim rp
# ...") are moved under "router pim", where 10.2 put them (10.3 still
# converts the old form, later releases need not). vtysh -b prints one
# "[pid|daemon] done" line per daemon: only other output is shown.
tor_config() {
	local t=$1 i f
	i=$(ns "$t")
	f=$FRR_ETC/$i/frr.conf
	tor_conf "$t" >"$f.new"
	chown "$(frr_ids "$t")" "$f.new"; chmod 0640 "$f.new"
	mv "$f.new" "$f"
	if ! node_vtysh "$t" -b 2>&1 >/dev/null | { grep -v '^\[[0-9]*|[a-z0-9]*\] done$' >&2 || true; }; then
		die "vtysh -N $i -b failed to load lab/$t.conf"
	fi
}

# tor_conf TOR: lab/TOR.conf as this FRR version wants it (see tor_config).
tor_conf() {
	local f=$LAB_DIR/$1.conf pim
	if frr_at_least "$1" 10 2; then
		pim=$(sed -n 's/^ip pim / /p' "$f")
		grep -v -e '^ip pim ' -e '^end$' "$f" || true
		[[ -z $pim ]] || printf 'router pim\n%s\nexit\n!\n' "$pim"
		echo end
	else
		cat "$f"
	fi
}

# --------------------------------------------- tor1: bare metal on VNI 10 --

# tor1_bare_metal: tor1 acting as a third-party switch with a hand-configured
# VLAN-VNI mapping: server bm1 on an access port, bridged to VNI 10 (the
# tenant red "web" network of the hosts). On a Cumulus box this is
# "bridge-access 10 + vxlan-id 10", on EOS "vxlan vlan 10 vni 10". A plain
# (not VLAN-aware) bridge: one bridge per VNI, the traditional Linux model.
# FRR on tor1 (advertise-all-vni in lab/tor1.conf) announces type-3 (flood
# list) and type-2 (bm1's MAC) routes for VNI 10 with next hop 10.255.0.1.
tor1_bare_metal() {
	local t b
	t=$(ns tor1)
	b=$(ns bm1)
	ip netns add "$b"
	ip -n "$t" link add br10 type bridge
	# nolearning: remote MACs come from EVPN (zebra installs them), not from
	# data-plane learning; local 10.255.0.1 = tor1's loopback/VTEP address.
	ip -n "$t" link add vx10 mtu "$WL_MTU" type vxlan id 10 local 10.255.0.1 \
		dstport 4789 nolearning
	ip -n "$t" link set vx10 master br10
	ip -n "$t" link add bm1 mtu "$WL_MTU" type veth \
		peer name eth0 netns "$b" mtu "$WL_MTU" address 02:00:00:00:01:00
	ip -n "$t" link set bm1 master br10
	ip netns exec "$t" bridge link set dev vx10 learning off
	# pure L2 on the switch: no IPv6 link-locals/RS of its own in VNI 10
	ip netns exec "$t" sysctl -qw net.ipv6.conf.br10.disable_ipv6=1 \
		net.ipv6.conf.vx10.disable_ipv6=1 net.ipv6.conf.bm1.disable_ipv6=1
	ip -n "$t" link set bm1 up
	ip -n "$t" link set vx10 up
	ip -n "$t" link set br10 up
	# the server: gateway 10.1.10.1 = the hosts' anycast gateway of red/web
	ns_endpoint "$b" 10.1.10.100/24 fd00:10::100/64 10.1.10.1 fd00:10::1
	log "  $t: br10 + vx10 (VNI 10, VTEP 10.255.0.1) + port bm1 -> $b 10.1.10.100"
}

# ---------------------------------------------- tor2: border of tenant red --

# tor2_border_create: tor2 as the border leaf of tenant red: VRF red
# (table 4001) with L3VNI 4001 (bridge br4001 = the L3VNI's SVI, vx4001 its
# only port) and a routed port ext0 in VRF red towards namespace ext (stands
# for the internet / edge router). No tenant blue on tor2.
# QUIRK (FRR 8.4): the devices are created DOWN here; the FRR config
# ("vrf red / vni 4001") is loaded next and only then tor2_border_up sets
# them up, so zebra already knows that vrf red owns VNI 4001 when the
# VXLAN device comes up (otherwise the L3VNI can stay down / unmapped).
tor2_border_create() {
	local t x
	t=$(ns tor2)
	x=$(ns ext)
	ip -n "$t" link add red type vrf table 4001
	# fixed MAC: it is the router MAC in tor2's type-5 routes
	ip -n "$t" link add br4001 address 02:00:0a:ff:00:02 type bridge
	ip -n "$t" link set br4001 master red
	ip -n "$t" link add vx4001 mtu "$WL_MTU" type vxlan id 4001 local 10.255.0.2 \
		dstport 4789 nolearning
	ip -n "$t" link set vx4001 master br4001
	ip netns exec "$t" bridge link set dev vx4001 learning off
	ip netns exec "$t" sysctl -qw net.ipv6.conf.vx4001.disable_ipv6=1 \
		net.ipv6.conf.br4001.disable_ipv6=1
	ip netns add "$x"
	ip -n "$t" link add ext0 type veth peer name eth0 netns "$x"
	ip -n "$t" link set ext0 master red
	ip -n "$t" addr add 192.0.2.1/24 dev ext0
	ns_endpoint "$x" 192.0.2.10/24 "" 192.0.2.1 ""
	log "  $t: vrf red (table 4001) + br4001/vx4001 (L3VNI 4001) + ext0 192.0.2.1 -> $x 192.0.2.10 (down until FRR config)"
}

tor2_border_up() {
	local t d
	t=$(ns tor2)
	for d in red vx4001 br4001 ext0; do
		ip -n "$t" link set "$d" up
	done
	log "  $(ns tor2): vrf red, br4001, vx4001, ext0 up"
}

# ---------------------------------------------------------------- workloads --

# ns_endpoint NS ADDR4/LEN ADDR6/LEN GW4 GW6: configure eth0 (already in NS,
# peer already up) as an end system: lo up, eth0 up, addresses, default
# routes. Empty ADDR6/GW6: IPv4 only. IPv6 DAD is off (accept_dad=0 and
# "nodad"), so the addresses are usable at once: tests need not wait.
ns_endpoint() {
	local n=$1 a4=$2 a6=$3 g4=$4 g6=$5
	ip -n "$n" link set lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
	ip -n "$n" link set eth0 up
	ip -n "$n" addr add "$a4" dev eth0
	ip -n "$n" route add default via "$g4" dev eth0
	if [[ -n $a6 ]]; then
		ip -n "$n" addr add "$a6" dev eth0 nodad
		# the /64 connected route appears with the address; poll anyway
		poll 10 "$n IPv6 default route" ip -n "$n" -6 route replace default via "$g6" dev eth0 ||
			die "$n: cannot add IPv6 default route via $g6"
	fi
}

# workloads HOST: the "workloads:" entries of lab/intents/HOST.yaml, one per
# line: NAME NETWORK INTERFACE MAC IP,IP...
# Tiny parser for exactly the intents' flow style, one entry per line:
#   - {name: X, network: T/N, interface: X, mac: "M", ips: [A, "B"]}
# (quotes and braces dropped, "ips: [...]" cut out first because its commas
# are not field separators, then "key: value" pairs split on ", ").
workloads() {
	awk '
		/^workloads:/ { w = 1; next }
		/^[^ \t#-]/   { w = 0 }                 # next top-level key
		w && /^[ \t]*- *\{/ {
			s = $0
			gsub(/["{}]/, "", s); sub(/^[ \t]*- */, "", s)
			ips = s; sub(/.*ips: *\[/, "", ips); sub(/\].*/, "", ips); gsub(/ /, "", ips)
			sub(/,? *ips: *\[[^]]*\]/, "", s)
			delete f
			n = split(s, kv, /, */)
			for (i = 1; i <= n; i++) {
				k = kv[i]; sub(/:.*/, "", k); gsub(/ /, "", k)
				v = kv[i]; sub(/^[^:]*: */, "", v)
				f[k] = v
			}
			print f["name"], f["network"], f["interface"], f["mac"], ips
		}' "$LAB_INTENTS/$1.yaml"
}

# all_workload_names: workload names of all hosts (= namespace names)
all_workload_names() {
	local h name _
	for h in "${HOSTS[@]}"; do
		while read -r name _; do echo "$name"; done < <(workloads "$h")
	done
}

# workload_add HOST NAME NETWORK IFACE MAC IPS: namespace NAME whose eth0
# (MAC, IPs) is wired to interface IFACE of host HOST. evpnhost (the apply
# step) then puts IFACE into the tenant bridge.
# Gateway rule (hardcoded, true for every network of the lab): the first host
# address of the subnet, i.e. x.y.z.1 for IPv4 (/24) and P::1 for an IPv6
# address P::H (/64).
workload_add() {
	local h=$1 name=$2 net=$3 ifc=$4 mac=$5 ips=$6
	local i w ip a4="" a6="" g4="" g6="" peer
	i=$(ns "$h")
	w=$(ns "$name")
	for ip in ${ips//,/ }; do
		if [[ $ip == *:* ]]; then
			a6=$ip/64; g6=${ip%::*}::1
		else
			a4=$ip/24; g4=${ip%.*}.1
		fi
	done
	[[ -n $a4 ]] || die "workload $name: no IPv4 address in lab/intents/$h.yaml"
	ip netns add "$w"
	if [[ $ifc == rtap* ]]; then
		# VM case: IFACE is a TAP device held by tapwire (like QEMU holds a
		# VM's tap); the "VM" is namespace NAME, its NIC eth0 is the far end
		# of the veth IFACE-wire that tapwire relays frames from/to.
		peer=$ifc-wire
	else
		peer=$ifc
	fi
	ip link add "$peer" netns "$i" mtu "$WL_MTU" type veth \
		peer name eth0 netns "$w" mtu "$WL_MTU" address "$mac"
	if [[ $ifc == rtap* ]]; then
		# the relay end carries no traffic of its own (no IPv6 RS/ND)
		ip netns exec "$i" sysctl -qw "net.ipv6.conf.$peer.disable_ipv6=1"
		ip -n "$i" link set "$peer" up
		tapwire_start "$h" "$ifc" "$peer"
	fi
	ip -n "$i" link set "$ifc" mtu "$WL_MTU" up
	ns_endpoint "$w" "$a4" "$a6" "$g4" "$g6"
	local via=""
	[[ $peer != "$ifc" ]] && via=" (TAP, tapwire <-> $peer)"
	log "  $i:$ifc$via <-> $w:eth0 $mac $net $a4 $a6 gw $g4 $g6"
}

workloads_up() {
	local h
	for h in "${HOSTS[@]}"; do
		host_workloads_up "$h"
	done
}

host_workloads_up() {
	local h=$1 name net ifc mac ips
	while read -r name net ifc mac ips; do
		[[ -n $name && -n $net && -n $ifc && -n $mac && -n $ips ]] ||
			die "lab/intents/$h.yaml: cannot parse workload '$name $net $ifc $mac $ips'"
		workload_add "$h" "$name" "$net" "$ifc" "$mac" "$ips"
	done < <(workloads "$h")
}

# ----------------------------------------------------------------- tapwire --

# tapwire_build: bin/tapwire from lab/tapwire when missing or older than
# its source.
tapwire_build() {
	local src=$LAB_DIR/tapwire/main.go
	[[ -x $TAPWIRE && ! $src -nt $TAPWIRE ]] && return 0
	command -v go >/dev/null || die "$TAPWIRE missing/outdated and no go to build it"
	log "building $TAPWIRE"
	(cd "$REPO_DIR" && GOFLAGS=-buildvcs=false go build -o "$TAPWIRE" ./lab/tapwire) ||
		die "go build ./lab/tapwire failed"
}

tap_pidfile() { echo "$LAB_RUN/$(ns "$1")-$2.pid"; }

# tap_ready NS TAP: TAP exists, is up and has carrier (LOWER_UP: tapwire
# holds it open).
tap_ready() {
	ip -n "$1" -o link show "$2" 2>/dev/null | grep -q 'LOWER_UP'
}

# tapwire_start HOST TAP WIRE: run tapwire in HOST's namespace in the
# background (pid file in $LAB_RUN, log next to it), wait for its TAP.
tapwire_start() {
	local h=$1 tap=$2 wire=$3 i pf pid
	i=$(ns "$h")
	pf=$(tap_pidfile "$h" "$tap")
	install -d -m 0755 "$LAB_RUN"
	# ip netns exec execs tapwire in place: $! is tapwire's pid.
	ip netns exec "$i" "$TAPWIRE" -tap "$tap" -wire "$wire" \
		</dev/null >"${pf%.pid}.log" 2>&1 &
	pid=$!
	echo "$pid" >"$pf"
	poll 10 "$i TAP $tap" ip -n "$i" link show "$tap" ||
		die "tapwire did not create $i:$tap (see ${pf%.pid}.log)"
	ip -n "$i" link set "$tap" mtu "$WL_MTU" up
	poll 10 "$i TAP $tap carrier" tap_ready "$i" "$tap" ||
		die "$i:$tap has no carrier (see ${pf%.pid}.log)"
	kill -0 "$pid" 2>/dev/null || die "tapwire exited (see ${pf%.pid}.log)"
}

# is_tapwire PID: PID is a running tapwire (pid files can be stale).
is_tapwire() {
	local -a argv
	mapfile -d '' -t argv 2>/dev/null <"/proc/$1/cmdline" || return 1
	[[ ${argv[0]:-} == */tapwire ]]
}

# tapwire_stop [HOST...]: end the lab's tapwire processes (pid files of
# this LAB_PREFIX only, of the given hosts or all; TERM, then KILL after 5 s).
tapwire_stop() {
	local h name net ifc _ f
	local -a hs=("$@")
	(( ${#hs[@]} )) || hs=("${HOSTS[@]}")
	for h in "${hs[@]}"; do
		while read -r name net ifc _; do
			if [[ $ifc == rtap* ]]; then tap_pidfile "$h" "$ifc"; fi
		done < <(workloads "$h")
	done | while read -r f; do
		[[ -e $f ]] || continue
		stop_pidfile tapwire "$f" is_tapwire
		rm -f "${f%.pid}.log"
	done
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
	ip netns exec "$i" "$EVPNHOST" apply -f "$LAB_INTENTS/$h.yaml" --frr-instance "$i"
}

# ------------------------------------------------------------ convergence --

# established NODE: every configured BGP peer of NODE's instance is
# Established.
established() {
	local -a cmd
	vtysh_argv "$1" cmd
	# timeout: a daemon that does not answer must not stop the poll forever
	timeout 10 "${cmd[@]}" -c 'show bgp summary json' 2>/dev/null | jq -e '
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
		poll "$(left "$end")" "$i BGP sessions" established "$h" || failed=1
	done
	for t in "${TORS[@]}"; do
		poll "$(left "$end")" "$(ns "$t") BGP sessions" established "$t" || failed=1
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

# netns_del NS...: delete those of the namespaces that exist (one
# "ip netns list" for all: forks are expensive in the VM).
netns_del() {
	local n
	local -A have=()
	for n in $(ip netns list | awk '{print $1}'); do have[$n]=1; done
	for n in "$@"; do
		[[ -n ${have[$n]:-} ]] || continue
		ip netns del "$n" 2>/dev/null || warn "could not delete netns $n"
	done
}

cmd_down() {
	local n i
	local -a inst=() others=()
	need_root
	# tapwire first: its TAP lives in a host namespace
	tapwire_stop
	for n in $(all_nodes); do inst+=("$(ns "$n")"); done
	frr_stop "${inst[@]}"
	# workload and edge namespaces too (their veth peers go with them)
	for n in $(all_workload_names) "${EDGES[@]}"; do others+=("$(ns "$n")"); done
	netns_del "${inst[@]}" "${others[@]}"
	for i in "${inst[@]}"; do
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
	tapwire_build
	log "down (idempotent up)"
	cmd_down
	log "namespaces and wires"
	wires
	for t in "${TORS[@]}"; do tor_kernel "$t"; done
	for h in "${HOSTS[@]}"; do host_links_up "$h"; done
	log "tor1: bare-metal server bm1 on VNI 10"
	tor1_bare_metal
	log "tor2: border of tenant red (VRF red, L3VNI 4001, ext)"
	tor2_border_create
	log "FRR instances, all nodes at once: hosts $(node_daemons h1 | tr ' ' ,) (FRR $FRR_VERSION), TORs $(node_daemons tor1 | tr ' ' ,) (FRR $TOR_FRR_VERSION${LAB_TOR_ROOT:+ from $LAB_TOR_ROOT})"
	# Nodes are independent: start their FRR instances in parallel (under
	# the VM's emulation each start takes seconds of process spawning).
	local fpids=() fn
	for n in $(all_nodes); do
		frr_start "$n" &
		fpids+=($!)
	done
	read -r -a fn <<<"$(all_nodes)"
	for k in "${!fpids[@]}"; do
		wait "${fpids[$k]}" || die "FRR of $(ns "${fn[$k]}") failed to start"
		log "  $(ns "${fn[$k]}") FRR up"
	done
	log "TOR configs"
	for t in "${TORS[@]}"; do
		tor_config "$t"
		log "  $(ns "$t") <- lab/$t.conf"
	done
	tor2_border_up
	log "workloads (lab/intents/hN.yaml workloads:)"
	workloads_up
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
			log "hosts: evpnhost apply ($EVPNHOST), all hosts at once"
			# The hosts are independent (as in a real fabric): apply them
			# in parallel, each output kept apart and shown on failure.
			local pids=() outs=() k rc=0
			for h in "${HOSTS[@]}"; do
				outs+=("$(mktemp)")
				host_config_evpnhost "$h" >"${outs[-1]}" 2>&1 &
				pids+=($!)
			done
			for k in "${!HOSTS[@]}"; do
				if wait "${pids[$k]}"; then
					log "  $(ns "${HOSTS[$k]}") configured by evpnhost"
				else
					rc=1
					log "  $(ns "${HOSTS[$k]}"): evpnhost apply FAILED:"
					cat "${outs[$k]}" >&2
				fi
				rm -f "${outs[$k]}"
			done
			(( rc == 0 )) || die "evpnhost apply failed"
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
		{ timeout 10 vtysh -N "$i" -c 'show bgp summary json' 2>/dev/null || echo '{}'; } | jq -r --arg h "$i" '
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

# cmd_frr_restart NODE: stop and start every FRR daemon of a host or TOR, as
# `systemctl restart frr` would on a real one. A host's daemons come back
# without configuration: its evpnhost agent (or an apply) configures them. A
# TOR's come back with lab/TOR.conf, as a switch's FRR reads its startup
# configuration (its links stay up; its BGP sessions reset).
cmd_frr_restart() {
	need_root
	(( $# == 1 )) || die "usage: lab.sh frr-restart NODE"
	local n=$1
	[[ " $(all_nodes) " == *" $n "* ]] || die "frr-restart: $n is not a lab node ($(all_nodes))"
	frr_stop "$(ns "$n")"
	frr_start "$n"
	if [[ " ${TORS[*]} " == *" $n "* ]]; then
		tor_config "$n"
		log "  $(ns "$n") <- lab/$n.conf"
	fi
}

is_host() { [[ " ${HOSTS[*]} " == *" $1 "* ]]; }

# cmd_host_down HOST: what a power-off leaves of a host: nothing running,
# no namespace (its uplink veths vanish, so the TORs see their ports go),
# no workload namespaces, /run/frr/NS and /etc/frr/NS gone (the lab's FRR
# reads no config at start anyway). evpnhost's state dir stays: it is on
# disk on a real host.
cmd_host_down() {
	need_root
	if (( $# != 1 )) || ! is_host "$1"; then die "usage: lab.sh host-down HOST (${HOSTS[*]})"; fi
	local h=$1 i name t _
	local -a wl=()
	i=$(ns "$h")
	tapwire_stop "$h"
	frr_stop "$i"
	while read -r name _; do wl+=("$(ns "$name")"); done < <(workloads "$h")
	netns_del "$i" "${wl[@]}"
	# The kernel destroys a deleted namespace's devices later, in its
	# own time (minutes under emulation with 4000 VLANs on the bridge):
	# the TORs' ends of the uplinks go with them. host-up would fail on
	# them ("File exists"), so wait until they are gone.
	for t in "${TORS[@]}"; do
		poll "$(( LAB_TIMEOUT > 300 ? LAB_TIMEOUT : 300 ))" "$(ns "$t"):$h to go with $i" not ip -n "$(ns "$t")" link show dev "$h" ||
			die "$(ns "$t"):$h still exists after $i was deleted"
	done
	rm -rf -- "${FRR_ETC:?}/$i" "${FRR_RUN:?}/$i"
	log "$i down (FRR, namespace, uplinks, workloads ${wl[*]})"
}

# cmd_host_up HOST: boot a host that host-down removed: namespace,
# uplinks (and the TOR ports), FRR (empty), its workloads, evpnhost apply,
# then wait for the whole lab to converge.
cmd_host_up() {
	preflight
	local wait=1
	if (( $# == 2 )) && [[ $2 == --no-converge ]]; then wait=0; set -- "$1"; fi
	if (( $# != 1 )) || ! is_host "$1"; then die "usage: lab.sh host-up HOST [--no-converge] (${HOSTS[*]})"; fi
	local h=$1 i t
	i=$(ns "$h")
	ip netns add "$i"
	host_wires "$h"
	for t in "${TORS[@]}"; do tor_port_up "$t" "$h"; done
	host_links_up "$h"
	frr_start "$h"
	log "  $i FRR up"
	tapwire_build
	host_workloads_up "$h"
	[[ -x $EVPNHOST ]] || die "$EVPNHOST not found"
	host_config_evpnhost "$h" >/dev/null || die "$i: evpnhost apply failed"
	log "  $i configured by evpnhost"
	(( wait == 0 )) || converge
}

cmd_vtysh() {
	(( $# >= 1 )) || die "usage: lab.sh vtysh NODE ARGS..."
	local n=$1
	shift
	is_tor "$n" || is_host "$n" || die "vtysh: $n is not a lab node ($(all_nodes))"
	node_vtysh "$n" "$@"
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
		vtysh) cmd_vtysh "$@" ;;
		frr-restart) cmd_frr_restart "$@" ;;
		host-down) cmd_host_down "$@" ;;
		host-up) cmd_host_up "$@" ;;
		reboot) cmd_host_down "$@" && cmd_host_up "$@" ;;
		converge) need_root; converge ;;
		_pimd-watch) cmd_pimd_watch "$@" ;;
		*) usage ;;
	esac
}

main "$@"
