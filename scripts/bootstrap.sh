#!/usr/bin/env bash
# Installs what hostdev's tests and demo need on a fresh Debian machine: Debian packages and a
# venv on the real interpreter (never a pyenv shim) with hostdev in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debs=()
for pkg in iproute2 strace ibverbs-utils containernetworking-plugins qemu-system-x86 gcc make podman runc busybox-static python3-yaml ${HOSTDEV_EXTRA_DEBS:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "== apt-get install ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
fi

py=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ ! -x .venv/bin/python ]; then
  echo "== venv on $py"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m hostdev._netns_build >/dev/null   # editable installs do not run cffi_modules
