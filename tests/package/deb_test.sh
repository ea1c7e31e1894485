#!/usr/bin/env bash
# deb_test.sh SOURCE_DIR WORK_DIR - builds vnetctl's Debian package from
# SOURCE_DIR in WORK_DIR (a build of its own: Release, prefix /usr, no tests),
# checks it with lintian, installs it on this machine with dpkg -i, runs what
# it installed, removes it and checks that nothing of it is left.
# Needs root, dpkg-dev (cpack's dpkg-shlibdeps), lintian and systemd-analyze,
# which scripts/install-deps installs. A vnetctl package already installed
# (not by this test) fails it rather than being replaced.
set -euo pipefail
source_dir=$1 work=$2
version=$(sed -nE 's/^project\(vnetctl VERSION ([0-9.]+).*/\1/p' "$source_dir/CMakeLists.txt")
deb=$work/vnetctl_${version}_amd64.deb

fail() {
  echo "deb_test: $*" >&2
  exit 1
}
[[ $(id -u) == 0 ]] || fail "needs root (dpkg -i)"
for tool in dpkg-deb dpkg-shlibdeps lintian systemd-analyze cpack; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps"
done
if dpkg-query -W -f='${db:Status-Status}' vnetctl 2>/dev/null | grep -qv not-installed; then
  fail "a vnetctl package is already installed here; remove it first (dpkg -P vnetctl)"
fi

echo "== build ($work)"
cmake -S "$source_dir" -B "$work" -DVNET_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DSYSTEMD_UNIT_DIR=/lib/systemd/system -DUDEV_RULES_DIR=/lib/udev/rules.d >/dev/null
cmake --build "$work" -j"$(nproc)" >/dev/null
rm -f "$deb"
(cd "$work" && cpack -G DEB >/dev/null)
[[ -f $deb ]] || fail "cpack made no $deb"

echo "== contents"
dpkg-deb --info "$deb"
listing=$(dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's#^\./#/#')
for path in /usr/bin/vnetd /usr/bin/vnetctl /lib/systemd/system/vnetd.service /lib/systemd/system/vnetd.socket \
    /lib/udev/rules.d/90-vnetctl.rules /usr/libexec/vnetctl/vnetd-bpffs /usr/share/man/man8/vnetd.8.gz \
    /usr/share/man/man8/vnetctl.8.gz /usr/share/doc/vnetctl/copyright /usr/share/doc/vnetctl/changelog.gz \
    /usr/share/doc/vnetctl/README.md /usr/share/doc/vnetctl/docs/architecture.md \
    /usr/share/bash-completion/completions/vnetctl; do
  grep -qx "$path" <<<"$listing" || fail "the package lacks $path"
done
depends=$(dpkg-deb --field "$deb" Depends)
for library in libbpf libnl-3 libnl-route-3 libnl-genl-3 liburing libsystemd libslirp; do
  grep -q "$library" <<<"$depends" || fail "Depends lacks $library: $depends"
done

echo "== lintian"
# Errors fail the test; warnings are printed for the reader.
lintian --fail-on error --tag-display-limit 0 "$deb" || fail "lintian reports errors (above)"

installed=0
cleanup() {
  if [[ $installed == 1 ]]; then dpkg -P vnetctl >/dev/null 2>&1 || true; fi
  if [[ -n ${daemon_pid:-} ]]; then kill "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "${run_dir:-}"
}
trap cleanup EXIT

echo "== dpkg -i"
dpkg -i "$deb"
installed=1
[[ $(/usr/bin/vnetd --version) == "vnetd $version" ]] || fail "vnetd --version: $(/usr/bin/vnetd --version)"
[[ $(/usr/bin/vnetctl --version) == "vnetctl $version" ]] || fail "vnetctl --version: $(/usr/bin/vnetctl --version)"
systemd-analyze verify /lib/systemd/system/vnetd.socket /lib/systemd/system/vnetd.service ||
  fail "systemd-analyze verify fails on the installed units"
grep -q "/usr/bin/vnetd " /lib/systemd/system/vnetd.service || fail "vnetd.service does not run /usr/bin/vnetd"
grep -q "/usr/bin/vnetctl" /lib/udev/rules.d/90-vnetctl.rules || fail "the udev rules do not run /usr/bin/vnetctl"
man -w vnetd >/dev/null && man -w vnetctl >/dev/null || fail "man cannot find vnetd(8) or vnetctl(8)"

# The installed (stripped, Release) programs do their job: a daemon on a
# socket of its own answers the installed CLI.
run_dir=$(mktemp -d /tmp/vnet-deb.XXXXXX)
: >"$run_dir/bridge.conf"
/usr/bin/vnetd --socket "$run_dir/qmp.sock" --state-dir "$run_dir/state" --bridge-acl "$run_dir/bridge.conf" &
daemon_pid=$!
for _ in $(seq 100); do [[ -S $run_dir/qmp.sock ]] && break; sleep 0.05; done
/usr/bin/vnetctl -s "$run_dir/qmp.sock" netdev add hubport,id=deb0,hubid=0
/usr/bin/vnetctl -s "$run_dir/qmp.sock" netdev show | grep deb0 >/dev/null || fail "the installed vnetd lost netdev deb0"
/usr/bin/vnetctl -s "$run_dir/qmp.sock" netdev del deb0
kill "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=

echo "== dpkg -r, then -P"
dpkg -r vnetctl
# No conffiles: removal leaves nothing of the package behind.
while read -r path; do
  [[ -z $path || $path == */ ]] && continue
  [[ ! -e $path ]] || fail "$path is left after dpkg -r"
done < <(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's#^\./#/#')
dpkg -P vnetctl
installed=0
[[ $(dpkg-query -W -f='${db:Status-Status}' vnetctl 2>/dev/null || echo not-installed) == not-installed ]] ||
  fail "dpkg still lists vnetctl after dpkg -P"
echo "deb_test: $deb built, lintian-clean, installed, ran and removed"
