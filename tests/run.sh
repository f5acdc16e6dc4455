#!/usr/bin/env bash
# Runs every test tier of hostdev on a fresh Debian machine: installs what the tests need,
# then mypy --strict and pytest (unit, kernel, e2e, and the qemu real-kernel tier).
# Usage: tests/run.sh [pytest args...]   (HOSTDEV_VM=off skips the qemu tier for a quick local run)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
echo "== mypy --strict"
.venv/bin/python -m mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
