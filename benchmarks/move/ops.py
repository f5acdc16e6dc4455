"""The operations of the move sequence, as every implementation laps them."""

from __future__ import annotations

SNAPSHOT = "snapshot"
MOVE_IN = "move-in"
APPLY = "apply"
MOVE_BACK = "move-back"
RESTORE = "restore"

SEQUENCE = (SNAPSHOT, MOVE_IN, APPLY, MOVE_BACK, RESTORE)
TOTAL = "sequence"  # the sum of an implementation's laps
MOVES = (MOVE_IN, MOVE_BACK)

# ``ip -batch`` cannot split the sequence finer: a batch runs in one namespace, and what to
# apply is only known once the snapshot's output has been parsed.
BATCH_SNAPSHOT_MOVE = "snapshot+move-in"
BATCH_APPLY_MOVE = "apply+move-back"
BATCH_SEQUENCE = (BATCH_SNAPSHOT_MOVE, BATCH_APPLY_MOVE, RESTORE)
