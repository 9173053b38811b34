#!/bin/sh
# The seed's NetworkPolicy demo, with podnet in place of kubectl + Calico: nginx (busybox httpd)
# behind a default-deny policy, reachable only from pods labelled access=true.
#
# It runs in network, mount and PID namespaces of its own, with state under a temporary root,
# so it leaves nothing on this machine: no pins, no processes, no nft tables.
#   examples/netpol-demo/run.sh [BIN_DIR]     (default: build/bin)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-$here/../../build/bin}" && pwd)

if [ "${PODNET_DEMO_INSIDE:-}" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "netpol-demo: needs root (namespaces)" >&2; exit 1; }
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
say() { printf '\n%s%s%s\n' "$b" "$*" "$n"; }
step() { printf '\n%s$ podnet %s%s\n' "$b" "$*" "$n"; podnet "$@"; }
show() { printf '\n%s$ cat %s%s\n' "$b" "$(basename "$1")" "$n"; cat "$1"; }
# The seed's probe from inside a client pod, `wget --spider --timeout=1`. Debian's busybox wget
# has no --timeout, so busybox timeout bounds it (a denied connection is refused at once anyway).
try() {
    printf '%s%s $ timeout 1 wget --spider %s%s\n' "$b" "$1" "$2" "$n"
    if podnet run "$1" -- /bin/busybox timeout 1 /bin/busybox wget --spider "$2" 2>&1; then
        echo "=> $1 reached nginx"
    else
        echo "=> $1 could not reach nginx"
    fi
}

echo "podnet NetworkPolicy demo (the seed's Calico example): nginx in namespace default,"
echo "a default-deny policy, then access-nginx letting in only pods labelled access=true."

say "# nginx: a pod labelled run=nginx serving HTTP on port 80 (busybox httpd)"
step sandbox create --name nginx --label run=nginx -p 8080:80
mkdir -p /run/www && echo "hello from nginx" >/run/www/index.html
podnet run nginx -d --name httpd -- /bin/busybox httpd -f -p 80 -h /run/www >/dev/null
nginx=$(podnet sandbox inspect nginx | sed -n 's/.*"ipv4": "\([0-9.]*\)\/.*/\1/p' | head -1)
url="http://$nginx/"
step sandbox create --name busybox
step sandbox create --name busybox-access --label access=true
for i in 1 2 3 4 5 6 7 8 9 10; do
    podnet run busybox -- /bin/busybox wget -q --spider "$url" 2>/dev/null && break
    sleep 0.1
done

say "# Without any policy every pod reaches nginx"
try busybox "$url"

say "# Default deny for ingress in namespace default: nobody reaches nginx"
show "$here/default-deny.yaml"
step policy apply -f "$here/default-deny.yaml"
try busybox "$url"
try busybox-access "$url"

say "# access-nginx: pods labelled access=true may reach nginx"
show "$here/nginx-policy.yaml"
step policy apply -f "$here/nginx-policy.yaml"
try busybox "$url"
try busybox-access "$url"

step policy ls
# `policy explain` answers with its exit code too, as `kubectl auth can-i`: 1 denied, 0 allowed.
step policy explain busybox nginx 80 || echo "(exit $?)"
step policy explain busybox-access nginx 80
say "# In the kernel: one table, fixed chains; the policies are set elements keyed by pod address"
say '$ nft list set inet podnet_policy ing_iso4; nft list set inet podnet_policy ing_peer4'
nft list set inet podnet_policy ing_iso4 | sed -n '/elements/,/}/p'
nft list set inet podnet_policy ing_peer4 | sed -n '/elements/,/}/p'

step sandbox rm -f nginx busybox busybox-access
step policy rm default-deny access-nginx
step gc
echo
echo "netpol-demo: done (everything ran in private namespaces; nothing is left behind)"
