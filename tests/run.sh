#!/usr/bin/env bash
# Runs every test tier of hostdev on a fresh Debian machine: installs what the tests need
# (Debian packages, a venv on the real interpreter), then mypy --strict and pytest.
# Usage: tests/run.sh [pytest args...]   (HOSTDEV_VM=off skips the qemu tier for a quick local run)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need_debs=()
for pkg in iproute2 strace ibverbs-utils containernetworking-plugins qemu-system-x86 gcc make; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "== apt-get install ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
fi

# The real interpreter, never a pyenv shim: the CNI launcher records this absolute path.
py=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ ! -x .venv/bin/python ]; then
  echo "== venv on $py"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m hostdev._netns_build >/dev/null   # editable installs do not run cffi_modules

echo "== mypy --strict"
.venv/bin/python -m mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
