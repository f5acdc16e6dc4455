#!/usr/bin/env bash
# Runs every hypothesis property of the suite (pytest marker `hypothesis`, which hypothesis puts
# on each @given test) under many seeds with CI's profile: no example database, no deadlines.
# One CI run tries one seed per commit; this tries many, to find what a later commit's seed would.
#
# Usage: scripts/fuzz-seeds.sh [SEED...]
#   without seeds: 20 seeds derived from the source tree (the same commit repeats the same 20;
#   the first is CI's own seed). HOSTDEV_FUZZ_COUNT=N changes how many.
# Prints one line per seed and a summary; exits 1 if any seed failed. A failure reproduces with
#   .venv/bin/python -m pytest -m hypothesis --hypothesis-profile=ci --hypothesis-seed=SEED tests
# Run it from a clone after scripts/bootstrap.sh (it uses .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python

if (($# > 0)); then
    seeds=("$@")
else
    mapfile -t seeds < <("$python" - "${HOSTDEV_FUZZ_COUNT:-20}" <<'EOF'
import sys
from tests.suite.determinism import seed_of, tree_digest
digest = tree_digest()
print(seed_of(digest))  # CI's seed for this tree
for index in range(1, int(sys.argv[1])):
    print(seed_of(f"{digest}:{index}"))
EOF
    )
fi

logs=$(mktemp -d /tmp/hostdev-fuzz-seeds.XXXXXX)
failed=()
echo "== ${#seeds[@]} seeds, logs in $logs"
for seed in "${seeds[@]}"; do
    log="$logs/seed-$seed.log"
    if "$python" -m pytest -q -p no:cacheprovider -m hypothesis --hypothesis-profile=ci \
        --hypothesis-seed="$seed" tests benchmarks/tests >"$log" 2>&1; then
        verdict=ok
    else
        verdict=FAILED
        failed+=("$seed")
    fi
    echo "seed $seed: $verdict: $(tail -n 1 "$log")"
done
if ((${#failed[@]})); then
    echo "== failed seeds: ${failed[*]} (logs in $logs)"
    exit 1
fi
echo "== all ${#seeds[@]} seeds passed"
