#!/usr/bin/env bash
# The seed's "Verification", on a stand-in NIC in throwaway namespaces (needs root).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh >&2
exec .venv/bin/python -m tests.e2e.demo "$@"
