#!/bin/sh
# The README's first command must work on a machine without make, cmake or a compiler (a
# debootstrap minbase root). Here: PATH holds everything this machine has except make, cmake and
# the compilers, and dpkg says their packages are absent; ./make must install them through
# scripts/install-deps (apt-get) and then hand over to make. apt-get and dpkg-query are stand-ins
# that record what they were asked (a real install needs the network, which tests may not use);
# the real thing is tried on a fresh root with shared/tools/fresh-root.sh (see README).
set -eu
src=${1:?usage: entry_point_test.sh SOURCE_DIR}
[ "$(id -u)" -eq 0 ] || { echo "entry point test: needs root (install-deps installs as root): skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/bin"
hidden=" make cmake g++ c++ gcc cc x86_64-linux-gnu-g++ x86_64-linux-gnu-gcc g++-12 gcc-12 "
for dir in /usr/local/bin /usr/bin /bin /usr/sbin /sbin; do
    for f in "$dir"/*; do
        name=${f##*/}
        case "$hidden" in *" $name "*) continue ;; esac
        [ -e "$T/bin/$name" ] || ln -s "$f" "$T/bin/$name"
    done
done
rm -f "$T/bin/dpkg-query" "$T/bin/apt-get"
# dpkg-query: the toolchain packages are not installed, everything else is.
cat >"$T/bin/dpkg-query" <<'SH'
#!/bin/sh
for last; do :; done
case "$last" in build-essential|cmake|make) exit 1 ;; esac
printf 'install ok installed'
SH
# apt-get: records its arguments and "installs" by putting the real tools on PATH.
cat >"$T/bin/apt-get" <<SH
#!/bin/sh
echo "apt-get \$*" >>"$T/apt.log"
for p in "\$@"; do
    case "\$p" in
        make) ln -sf "$(command -v make)" "$T/bin/make" ;;
        cmake) ln -sf "$(command -v cmake)" "$T/bin/cmake" ;;
        build-essential) ln -sf "$(command -v g++)" "$T/bin/g++" ;;
    esac
done
SH
chmod +x "$T/bin/dpkg-query" "$T/bin/apt-get"

fail() { echo "entry point test: $*" >&2; exit 1; }
if PATH="$T/bin" command -v make >/dev/null 2>&1; then fail "make is still on the test PATH"; fi
out=$(cd "$src" && env -i PATH="$T/bin" ./make --version 2>&1) || fail "./make failed: $out"
echo "$out" | grep -q "GNU Make" || fail "./make did not hand over to make: $out"
grep -q " make" "$T/apt.log" || fail "make was not installed: $(cat "$T/apt.log")"
grep -q " cmake" "$T/apt.log" || fail "cmake was not installed: $(cat "$T/apt.log")"
grep -q " build-essential" "$T/apt.log" || fail "the compiler was not installed: $(cat "$T/apt.log")"
# .ci/run calls exactly the README's test command.
grep -qx '\./make test' "$src/.ci/run" || fail ".ci/run does not call ./make test"
grep -q '^\./make test' "$src/README.md" || fail "README does not give ./make test"
grep -q '^\./make demo' "$src/README.md" || fail "README does not give ./make demo"
echo "entry point test: ok"
