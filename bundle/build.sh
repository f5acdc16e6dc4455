#!/usr/bin/env bash
# Builds the self-contained node bundle of amd-host-device and prints its directory (last line).
#
#   bundle/build.sh                  PyInstaller one-dir: what ships (bundle/README.md says why)
#   BUNDLER=nuitka bundle/build.sh   Nuitka standalone: kept for the comparison
#
# The bundler gets a venv of its own (exact pins: bundle/requirements-<bundler>.txt). Sources are
# staged with the generated cffi module and built under $HOSTDEV_BUNDLE_CACHE (default
# ~/.cache/hostdev-bundle), never in the source tree. A build is keyed by the hash of everything
# that goes into it, so a second run on an unchanged tree only prints the cached directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bundler=${BUNDLER:-pyinstaller}
cache=${HOSTDEV_BUNDLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hostdev-bundle}
requirements="$repo/bundle/requirements-$bundler.txt"
[ -f "$requirements" ] || { echo "build.sh: unknown BUNDLER=$bundler" >&2; exit 2; }
# The interpreter the project's venv runs on (never a pyenv shim): its libpython is bundled.
python=${HOSTDEV_BUNDLE_PYTHON:-$("$repo/.venv/bin/python" -c 'import os, sys; print(os.path.realpath(sys.executable))')}
py_version=$("$python" -c 'import sys; print(sys.version.split()[0])')

cd "$repo"
inputs=(cni_main.py deploy/__init__.py deploy/node_install.py bundle/entry.py bundle/build.sh bundle/amd-host-device.spec "${requirements#"$repo/"}")
while IFS= read -r f; do inputs+=("$f"); done < <(find hostdev -name '*.py' ! -name _netns_ffi.py ! -path '*/__pycache__/*' | LC_ALL=C sort)
key=$({ printf '%s\n' "$bundler" "$python" "$py_version"; sha256sum "${inputs[@]}"; } | sha256sum | cut -c1-16)
out="$cache/$bundler-$key"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # two test sessions at once build once
if [ -x "$out/amd-host-device" ]; then
  echo "bundle: cached $out" >&2
  echo "$out"
  exit 0
fi

started=$SECONDS
venv="$cache/venv-$bundler-$({ echo "$python"; cat "$requirements"; } | sha256sum | cut -c1-12)"
if [ ! -x "$venv/bin/python" ]; then
  echo "bundle: venv for $bundler ($py_version)" >&2
  rm -rf "$venv.tmp"
  "$python" -m venv "$venv.tmp"
  # (grep: pip warns here about local mirror directories this machine's pip config names)
  "$venv.tmp/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" \
    2> >(grep -v '^WARNING: Location' >&2) >&2
  mv "$venv.tmp" "$venv"
fi

tmp="$cache/tmp-$key-$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
tar -cf - "${inputs[@]}" | tar -C "$tmp/src" -xf -
mv "$tmp/src/bundle/entry.py" "$tmp/src/entry.py"
(cd "$tmp/src" && "$venv/bin/python" -m hostdev._netns_build >/dev/null)  # cffi ABI mode: no compiler at run time

echo "bundle: building with $bundler" >&2
case $bundler in
  pyinstaller)
    HOSTDEV_BUNDLE_SRC="$tmp/src" PYINSTALLER_CONFIG_DIR="$cache/pyinstaller-config" \
      "$venv/bin/python" -m PyInstaller --noconfirm --log-level WARN \
      --distpath "$tmp/dist" --workpath "$tmp/work" "$repo/bundle/amd-host-device.spec" >&2
    built="$tmp/dist/amd-host-device"
    ;;
  nuitka)
    NUITKA_CACHE_DIR="$cache/nuitka-cache" "$venv/bin/python" -m nuitka \
      --standalone --quiet --jobs="$(nproc)" --python-flag=no_site \
      --output-dir="$tmp/work" --output-filename=amd-host-device \
      --include-package=hostdev --nofollow-import-to=hostdev._netns_build --nofollow-import-to=cffi \
      --include-module=_cffi_backend --include-module=deploy.node_install \
      "$tmp/src/entry.py" >&2
    built="$tmp/work/entry.dist"
    ;;
esac

bundler_version=$("$venv/bin/python" -m pip show "$bundler" 2>/dev/null | sed -n 's/^Version: //p')
printf '{"name": "amd-host-device", "build": "%s", "bundler": "%s %s", "python": "%s"}\n' \
  "$key" "$bundler" "$bundler_version" "$py_version" >"$built/hostdev-bundle.json"
mv "$built" "$out"
echo "bundle: built $out in $((SECONDS - started)) s ($(du -sh "$out" | cut -f1))" >&2
# Keep the three newest builds of this bundler.
ls -dt "$cache/$bundler"-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "$out"
