#!/usr/bin/env bash
# Builds the self-contained node bundle of amd-host-device and prints its directory (last line).
#
#   bundle/build.sh          (as root: it chroots into the builder root)
#
# Everything the bundle ships is built inside the bullseye builder root (bundle/build_root.py,
# cached: glibc 2.31, CPython 3.11 from Debian's source package), so a node needs glibc 2.31 or
# newer and nothing else. Sources are staged with the generated cffi module and laid out by
# bundle/assemble.py (C launcher, libpython, modules as plain .pyc) under $HOSTDEV_BUNDLE_CACHE
# (default /var/cache/hostdev-bundle), never in the source tree. A build is keyed by the hash of
# everything that goes into it (sources, build scripts, the root's key), so a second run on an
# unchanged tree only prints the cached directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export HOSTDEV_BUNDLE_CACHE=${HOSTDEV_BUNDLE_CACHE:-/var/cache/hostdev-bundle}
cache=$HOSTDEV_BUNDLE_CACHE
cd "$repo"

root=$(.venv/bin/python -m bundle.build_root | tail -n 1)
inputs=(cni_main.py deploy/__init__.py deploy/node_install.py bundle/entry.py bundle/build.sh bundle/assemble.py bundle/launcher.c)
while IFS= read -r f; do inputs+=("$f"); done < <(find hostdev -name '*.py' ! -name _netns_ffi.py ! -path '*/__pycache__/*' | LC_ALL=C sort)
key=$({ basename "$root"; sha256sum "${inputs[@]}"; } | sha256sum | cut -c1-16)
out="$cache/bundle-$key"

exec 9>"$cache/.bundle-lock"
flock 9  # two test sessions at once build once
if [ -x "$out/amd-host-device" ]; then
  echo "bundle: cached $out" >&2
  echo "$out"
  exit 0
fi

started=$SECONDS
stage="build/bundle-$key-$$"  # inside the root, where the build runs
rm -rf "${root:?}/$stage"
trap 'rm -rf "${root:?}/$stage"' EXIT
mkdir -p "$root/$stage/src"
tar -cf - "${inputs[@]}" | tar -C "$root/$stage/src" -xf -
mv "$root/$stage/src/bundle/entry.py" "$root/$stage/src/bundle/launcher.c" "$root/$stage/src/bundle/assemble.py" "$root/$stage/src/"
in_root() { bundle/run-in-root.sh "$root" -- "$@"; }
# cffi's ABI mode: the generated module needs nothing but _cffi_backend at run time.
in_root /bin/sh -c "cd /$stage/src && /opt/venv/bin/python -m hostdev._netns_build" >&2
in_root /opt/python3.11/bin/python3.11 -I "/$stage/src/assemble.py" "/$stage/src" "/$stage/out" >&2
# It starts where it was built: the root has nothing but bullseye's glibc for it.
version=$(echo '{"cniVersion":"1.0.0"}' | in_root /usr/bin/env -i CNI_COMMAND=VERSION "/$stage/out/amd-host-device")
case $version in *supportedVersions*) ;; *) echo "bundle: VERSION in the root printed: $version" >&2; exit 1 ;; esac

py_version=$(in_root /opt/python3.11/bin/python3.11 -c 'import sys; print(sys.version.split()[0])')
printf '{"name": "amd-host-device", "build": "%s", "bundler": "hostdev-launcher", "python": "%s", "root": "%s"}\n' \
  "$key" "$py_version" "$(basename "$root")" >"$root/$stage/out/hostdev-bundle.json"
mv "$root/$stage/out" "$out"
echo "bundle: built $out in $((SECONDS - started)) s ($(du -sh "$out" | cut -f1))" >&2
# Keep the three newest builds.
ls -dt "$cache"/bundle-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "$out"
