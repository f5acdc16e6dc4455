"""The scale part: 1..64 stand-in devices, all into one pod (sequential ADDs, then DELs) and into
separate pods with 1, 2, 4 and 8 plugin processes in parallel; per-device cost versus N, peak RSS
of one plugin exec, and where parallel execs wait (kernel RTNL/RCU, CPU, plugin locks).

Builds on the CNI part's node and spawner (:mod:`benchmarks.cni.node`, :mod:`benchmarks.cni.spawner`).
"""
