#!/bin/sh
# make demo-pod: a pod with two containers talking over localhost, shown step by step.
#
# It runs in network, mount and PID namespaces of its own, with state under a temporary root,
# so it leaves nothing on this machine: no pins, no processes, no files.
set -eu
bin=$(cd "${1:-build/bin}" && pwd)

if [ "${PODNET_DEMO_INSIDE:-}" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "demo: needs root (namespaces)" >&2; exit 1; }
    exec unshare --net --mount --pid --fork --propagation private --mount-proc \
        env PODNET_DEMO_INSIDE=1 "$0" "$bin"
fi

# A private /run (not /tmp: the build tree may live there) holds all the demo's state.
mount -t tmpfs tmpfs /run
ip link set lo up
root=/run/podnet-demo
podnet() { "$bin/podnet" --root "$root" "$@"; }
# Bold headings only on a terminal and without NO_COLOR (no-color.org): piped into a file or a
# test, the transcript is plain text.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then b=$(printf '\033[1m') n=$(printf '\033[0m'); else b= n=; fi
step() { printf '\n%s$ podnet %s%s\n' "$b" "$*" "$n"; podnet "$@"; }
say() { printf '\n%s%s%s\n' "$b" "$*" "$n"; }

echo "podnet demo: one pod (a pause process holding net, IPC, UTS and PID namespaces) on the"
echo "default bridge network, a web server container, a client container that reaches it on"
echo "localhost, and the host reaching it through a host port (DNAT in nftables)."

step sandbox create --name web --hostname web-pod --namespace demo --label run=nginx -p 8080:80
mkdir -p /run/www && echo "hello from the pod's web server" >/run/www/index.html
step run web -d --name nginx -- /bin/busybox httpd -f -p 80 -h /run/www
step run web --name client -- /bin/sh -c \
    'for i in 1 2 3 4 5; do busybox wget -q -O - http://127.0.0.1/ && break; sleep 0.1; done; echo "client: hostname $(hostname), PID 1 is $(cat /proc/1/comm)"'
say '$ wget -q -O - http://127.0.0.1:8080/   # from the host, through the host port'
for i in 1 2 3 4 5; do busybox wget -q -O - http://127.0.0.1:8080/ && break; sleep 0.1; done
step ps web
step sandbox inspect web --oci
step network ls
say "$ nft list table inet podnet   # podnet's own table: maps, no per-port rules"
nft list table inet podnet | sed -n '/map ports4/,/}/p'
step sandbox ls
step sandbox rm -f web
step gc
echo
echo "demo: done (everything ran in private namespaces; nothing is left behind)"
