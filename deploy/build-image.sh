#!/usr/bin/env bash
# Builds the DaemonSet's image with podman, FROM scratch, and prints its tag (last line):
#
#   deploy/build-image.sh [TAG]      (default localhost/amd-host-device-installer:<version>)
#
# The node bundle comes from bundle/build.sh (cached); the C libraries it needs from the system
# (glibc's) are copied in from the bullseye root it was built in, so the image runs it on the
# oldest glibc it supports. podman's usual settings apply (CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF). To ship it: podman push TAG REGISTRY/..., or podman save.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")
tag=${1:-localhost/amd-host-device-installer:$version}

bundle=$("$repo/bundle/build.sh" | tail -n 1)
root=$(cd "$repo" && .venv/bin/python -m bundle.build_root | tail -n 1)
build=$(sed -n 's/.*"build": "\([0-9a-f]*\)".*/\1/p' "$bundle/hostdev-bundle.json")
context=$(mktemp -d "${TMPDIR:-/tmp}/hostdev-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/rootfs"
cp -a "$bundle" "$context/rootfs/hostdev"
(cd "$repo" && .venv/bin/python -m deploy.system_libraries --root "$root" "$bundle") >"$context/libraries"
while IFS= read -r lib; do
  file=$lib  # follow symlinks inside the root (some are absolute: /lib64/ld-linux-x86-64.so.2)
  while [ -L "$root$file" ]; do
    target=$(readlink "$root$file")
    case $target in /*) file=$target ;; *) file=$(dirname "$file")/$target ;; esac
  done
  mkdir -p "$context/rootfs$(dirname "$lib")"
  cp "$root$file" "$context/rootfs$lib"
done <"$context/libraries"
cp "$repo/deploy/Containerfile" "$context/Containerfile"

# --timestamp 0: the same bundle gives the same image, whenever it is built.
podman build --quiet --timestamp 0 \
  --label "org.opencontainers.image.title=amd-host-device-installer" \
  --label "org.opencontainers.image.version=$version" \
  --label "io.hostdev.bundle.build=$build" \
  -f "$context/Containerfile" -t "$tag" "$context" >&2
echo "$tag"
