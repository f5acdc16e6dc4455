#!/bin/sh
# Runs a command chrooted into a Debian root tree (the bullseye builder root of bundle/build_root.py):
#
#   bundle/run-in-root.sh ROOT [--bind PATH]... -- COMMAND [ARG...]
#
# Everything happens in a private mount namespace of its own: a fresh proc on ROOT/proc, tmpfs on
# ROOT/tmp and ROOT/run, and each PATH of the caller's view bind-mounted (recursively) at the same
# path inside ROOT (e.g. /sys, /run/netns, a directory under /tmp). When COMMAND exits, the
# namespace and every mount in it are gone, whatever happened; the host's mounts, /etc and network
# are never touched. Mount points for PATHs under /tmp and /run live on those tmpfs; a PATH
# elsewhere leaves its (empty) mount point directory in ROOT.
set -eu
if [ "${1:-}" != "--in-private-namespace" ]; then
  exec unshare --mount --propagation private -- "$0" --in-private-namespace "$@"
fi
shift
root=${1:?usage: run-in-root.sh ROOT [--bind PATH]... -- COMMAND [ARG...]}
shift
[ -x "$root/bin/sh" ] || { echo "run-in-root.sh: $root is not a root tree" >&2; exit 2; }
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=1777 hostdev-root-tmp "$root/tmp"
mount -t tmpfs -o mode=0755 hostdev-root-run "$root/run"
while [ $# -gt 0 ]; do
  case $1 in
    --bind)
      path=${2:?--bind needs a path}
      case $path in /*) ;; *) echo "run-in-root.sh: --bind needs an absolute path: $path" >&2; exit 2 ;; esac
      if [ -d "$path" ]; then mkdir -p "$root$path"; else mkdir -p "$(dirname "$root$path")" && : >>"$root$path"; fi
      mount --rbind "$path" "$root$path"
      shift 2
      ;;
    --) shift; break ;;
    *) echo "run-in-root.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-root.sh: no command" >&2; exit 2; }
exec chroot "$root" "$@"
