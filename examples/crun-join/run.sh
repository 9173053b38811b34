#!/bin/sh
# A real OCI runtime joins a podnet sandbox by its pinned namespace paths.
#
# podnet creates the pod and starts a web server in it; crun (Debian's) then runs a busybox
# container whose config.json takes linux.namespaces from `podnet sandbox inspect --oci`: it
# shares the pod's network (fetches from the server on 127.0.0.1), UTS (hostname), IPC and PID
# namespaces (PID 1 is podnet-pause), with a mount namespace of its own.
#
#   PODNET="podnet --root /tmp/x" examples/crun-join/run.sh
#
# This machine's quirks (see README): crun runs with --cgroup-manager=disabled and a config
# without rlimits or resources.
set -eu

podnet=${PODNET:-podnet}
work=$(mktemp -d -t podnet-crun.XXXXXX)
cleanup() {
    crun --root "$work/crun" delete -f podnet-crun-demo >/dev/null 2>&1 || true
    $podnet sandbox rm -f crun-demo >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

$podnet sandbox create --name crun-demo --hostname crun-pod >/dev/null
mkdir -p "$work/www"
echo "served inside the pod" >"$work/www/index.html"
$podnet run crun-demo -d --name web -- /bin/busybox httpd -f -p 127.0.0.1:8080 -h "$work/www" >/dev/null

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/proc" "$work/bundle/rootfs/dev" "$work/crun"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
namespaces=$($podnet sandbox inspect crun-demo --oci)

cat >"$work/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/busybox", "sh", "-c",
             "echo hostname: \$(busybox hostname); echo pid 1: \$(busybox cat /proc/1/comm); for i in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O - http://127.0.0.1:8080/index.html && exit 0; busybox sleep 0.2; done; exit 1"],
    "env": ["PATH=/bin"],
    "cwd": "/",
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
  ],
  "linux": {"namespaces": $namespaces}
}
JSON

crun --root "$work/crun" --cgroup-manager=disabled run --bundle "$work/bundle" podnet-crun-demo
