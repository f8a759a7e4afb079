#!/bin/bash
# Sourced by lab/demo.sh where Docker is installed (the Debian 13 platform
# has docker.io): a Docker engine in lab host h1's network namespace, with
# `evpnhost docker-plugin` as its network and IPAM driver, runs a container
# on red/web, which then reaches red/web on h2 across the fabric. Everything
# it starts is stopped again at the end. Defines demo_docker; uses check's
# output format from demo.sh.

demo_docker() {
	local dk dpid ppid i img
	# Short: unix socket paths are limited to 107 bytes.
	dk=$(mktemp -d /tmp/dk-demo-XXXXXX)
	mkdir -p "$dk/data" "$dk/exec" "$dk/plugins" "$dk/img/bin"
	# dockerd finds plugins at the fixed /run/docker/plugins: give it a
	# mount namespace of its own where that is $dk/plugins.
	unshare --mount --propagation private -- nsenter --net=/run/netns/h1 -- sh -c '
set -e
mkdir -p /run/docker/plugins
mount --bind "$1/plugins" /run/docker/plugins
if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0700 tmpfs /etc/docker; fi
exec dockerd --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/docker.pid" -H "unix://$1/docker.sock" \
  --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none --userland-proxy=false \
  --storage-driver=vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent evpnhost-demo --log-level=warn' \
		sh "$dk" >"$dk/dockerd.log" 2>&1 &
	dpid=$!
	export DOCKER_HOST="unix://$dk/docker.sock"
	for i in $(seq 1 900); do
		docker version >/dev/null 2>&1 && break
		kill -0 "$dpid" 2>/dev/null || { echo "  FAIL dockerd exited:"; tail -5 "$dk/dockerd.log"; fail=1; return; }
		sleep 0.2
	done
	printf '  dockerd %s in h1\n' "$(docker version -f '{{.Server.Version}}' 2>/dev/null)"
	nsenter --mount="/proc/$dpid/ns/mnt" --net=/run/netns/h1 -- \
		"$PWD/bin/evpnhost" docker-plugin --frr-instance h1 --docker-host "$DOCKER_HOST" >"$dk/plugin.log" 2>&1 &
	ppid=$!
	for i in $(seq 1 300); do [ -S "$dk/plugins/evpnhost.sock" ] && break; sleep 0.2; done
	# No image can be pulled: import one made of the static busybox.
	cp /bin/busybox "$dk/img/bin/busybox"
	for i in sh sleep ping ip; do ln -s busybox "$dk/img/bin/$i"; done
	img=evpnhost-busybox:demo
	tar -C "$dk/img" -c . | docker import - "$img" >/dev/null
	docker network create -d evpnhost --ipam-driver evpnhost -o network=red/web --ipam-opt network=red/web dweb >/dev/null
	printf '  docker network dweb: %s\n' "$(docker network inspect -f '{{range .IPAM.Config}}subnet {{.Subnet}} gateway {{.Gateway}}{{end}}' dweb)"
	docker run -d --name demo1 --network dweb "$img" /bin/busybox sleep 3600 >/dev/null
	printf '  container demo1 on h1: %s\n' "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.MacAddress}}{{end}}' demo1)"
	if docker exec demo1 ping -c2 -i0.2 -W2 10.1.10.12 >/dev/null 2>&1; then got=reachable; mark=ok; else got=unreachable; mark=FAIL; fail=1; fi
	printf '  %-4s %-58s %s\n' "$mark" "Docker container on h1 -> red/web h2" "$got"
	docker rm -f demo1 >/dev/null
	docker network rm dweb >/dev/null
	kill "$ppid" "$dpid" 2>/dev/null || true
	wait "$ppid" "$dpid" 2>/dev/null || true
	if [ $mark = FAIL ]; then tail -5 "$dk/plugin.log"; fi
	rm -rf "$dk" 2>/dev/null || true
	unset DOCKER_HOST
}
