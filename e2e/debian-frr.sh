#!/bin/bash
# Apply an intent to FRR started the way Debian's frr.service starts it:
# /usr/lib/frr/frrinit.sh start (watchfrr, the daemons /etc/frr/daemons
# enables), the system instance (no pathspace), an empty vtysh.conf, and a
# machine whose hostname was never set (uname says "(none)").
#
# Run by TestDebianFRR inside `unshare --net --mount --uts`: /etc/frr and
# /run/frr are private tmpfs copies, so the host's own FRR, if any, is
# neither seen nor touched.
#   debian-frr.sh EVPNHOST INTENT HOSTNAME
set -euo pipefail
evpnhost=$1 intent=$2 name=$3
state=$(mktemp -d)
stop() {
	/usr/lib/frr/frrinit.sh stop >/dev/null 2>&1 || true
	for p in /run/frr/*.pid; do [ -e "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
	rm -rf "$state"
}
trap stop EXIT

[ -r /etc/frr/daemons ] || { echo "FAIL: no /etc/frr/daemons (FRR's Debian package installs it)"; exit 1; }
daemons=$(cat /etc/frr/daemons)
mount -t tmpfs -o mode=0755 evpnhost-etc-frr /etc/frr
mkdir -p /run/frr
mount -t tmpfs -o mode=0755 evpnhost-run-frr /run/frr
# The package's daemons file, with what the intent needs enabled, as a
# user following FRR's documentation would.
printf '%s\n' "$daemons" | sed -e 's/^bgpd=no/bgpd=yes/' -e 's/^bfdd=no/bfdd=yes/' -e 's/^pimd=no/pimd=yes/' >/etc/frr/daemons
: >/etc/frr/vtysh.conf
printf 'frr defaults traditional\nlog syslog informational\n' >/etc/frr/frr.conf
chown -R frr:frr /etc/frr /run/frr
chmod 0640 /etc/frr/frr.conf
python3 -c 'import socket; socket.sethostname("(none)")'
ip link set lo up
# The interfaces the intent names: uplinks and workload ports (veths whose
# peers stay in this namespace).
for dev in $(sed -n -e 's/.*uplinks: *\[\(.*\)\].*/\1/p' -e 's/.*interface: *\([^,} ]*\).*/\1/p' "$intent" | tr ',' ' '); do
	ip link add "$dev" type veth peer name "${dev:0:11}-p"
	ip link set "${dev:0:11}-p" up
	ip link set "$dev" up
done

# apply runs evpnhost apply and prints its output and exit status (the
# test reads both).
apply() {
	local code=0
	"$evpnhost" --state-dir "$state" apply -f "$intent" 2>&1 || code=$?
	echo "exit=$code"
}

/usr/lib/frr/frrinit.sh start
pgrep -x watchfrr >/dev/null || { echo "FAIL: watchfrr is not running"; exit 1; }

echo "== apply with hostname (none)"
apply

echo "== apply with hostname $name, FRR restarted (systemctl restart frr)"
python3 -c "import socket; socket.sethostname('$name')"
/usr/lib/frr/frrinit.sh restart
pgrep -x watchfrr >/dev/null || { echo "FAIL: watchfrr is not running after the restart"; exit 1; }
apply

echo "== apply again"
apply
echo "== vtysh"
vtysh -c 'show running-config'
vtysh -c 'show evpn vni'
