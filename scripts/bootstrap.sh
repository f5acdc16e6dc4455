#!/usr/bin/env bash
# Installs what hostdev's tests and demo need on a fresh Debian machine: Debian packages and a
# venv on the real interpreter (never a pyenv shim) with hostdev in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debs=()
for pkg in iproute2 strace ibverbs-utils containernetworking-plugins qemu-system-x86 gcc make podman runc containerd busybox-static python3-yaml ${HOSTDEV_EXTRA_DEBS:-}; do
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
if [ ! -x .venv/bin/python ]; then
  echo "== venv on $py"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m hostdev._netns_build >/dev/null   # editable installs do not run cffi_modules
