#!/usr/bin/env bash
# Installs what hostdev's tests and demo need on a fresh Debian machine: Debian packages and a
# venv on the real interpreter (never a pyenv shim) with hostdev in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "bootstrap: $*" >&2; exit 1; }

# What the suite assumes about the machine, checked before anything is installed. The VM tier
# unpacks qemu from bookworm-backports and Debian's bookworm kernels (6.1, and 6.12 built with
# bookworm's gcc-12), and builds its test RDMA module with gcc-12 (tests/vm/prepare.py).
[ -r /etc/os-release ] || fail "no /etc/os-release: hostdev's tests need Debian 12 (bookworm)"
release=$(. /etc/os-release && echo "${ID:-?} ${VERSION_CODENAME:-?}")
[ "$release" = "debian bookworm" ] || fail "this is '$release'; hostdev's tests need Debian 12 (bookworm): the VM tier takes qemu from bookworm-backports and builds its RDMA test module with gcc-12 for bookworm's kernels"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || fail "apt-get and dpkg are needed"
[ "$(id -u)" = 0 ] || fail "run as root: it installs Debian packages, and the tests need root (network namespaces)"

need_debs=()
# golang-go + golang-github-appc-cni-dev: the e2e tier builds a minimal runtime on Debian's libcni.
for pkg in iproute2 strace debootstrap ibverbs-utils containernetworking-plugins qemu-system-x86 gcc make podman runc containerd busybox-static python3-yaml golang-go golang-github-appc-cni-dev ${HOSTDEV_EXTRA_DEBS:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
# The suite's own needs: the venv module stock Debian lacks, GNU time (peak RSS in the benchmark
# tests), the compiler the VM tier's module build calls by name, git (CI's hypothesis seed),
# ethtool (offload settings a netns move leaves with the device: tests/kernel/test_interface_state.py).
for pkg in python3-venv time gcc-12 git ethtool; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "== apt-get install ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The tests run their own containerd (private config, root, state and socket): installing the
  # package must not start the machine's containerd.service, nor enable it for the next boot.
  # policy-rc.d (honoured by the package scripts) says "start nothing" for this install only,
  # and only where the machine has no policy of its own.
  fresh_containerd=
  [[ " ${need_debs[*]} " == *" containerd "* ]] && fresh_containerd=1
  if [ -n "$fresh_containerd" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# hostdev bootstrap: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
  if [ -n "$fresh_containerd" ]; then
    if grep -q 'hostdev bootstrap' /usr/sbin/policy-rc.d 2>/dev/null; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
    if [ -d /run/systemd/system ]; then systemctl disable --quiet containerd.service || true; fi
  fi
fi

py=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "$py is older than Python 3.11"
if [ ! -x .venv/bin/python ]; then
  echo "== venv on $py"
  "$py" -m venv .venv
fi
# Exact versions (scripts/constraints.txt), also for the editable install's isolated build.
if ! out=$(PIP_CONSTRAINT="$PWD/scripts/constraints.txt" .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]' 2>&1); then
  printf '%s\n' "$out" >&2
  fail "pip install of hostdev[dev,bench] failed"
fi
printf '%s\n' "$out" | sed '/^WARNING: Location/d;/^$/d'
.venv/bin/python -m hostdev._netns_build >/dev/null   # editable installs do not run cffi_modules

# The VM tier's kernels, qemu and module, fetched now: a mirror without bookworm-backports or a
# failed module build shows here, not halfway through pytest (a no-op with a warm cache).
if [ "${HOSTDEV_VM:-}" != off ]; then
  .venv/bin/python tests/vm/prepare.py || fail "the VM tier cannot be prepared (see above); HOSTDEV_VM=off skips it for a developer's quick run"
fi
