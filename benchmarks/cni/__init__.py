"""The CNI part: the installed ``amd-host-device`` binary end to end (ADD+DEL on a stand-in NIC),
interleaved with Debian's Go ``host-device``; VERSION exec time; where the milliseconds go.

Plugins are executed the way a runtime does it, by a spawner process that lives in the stand-in
node's "host" namespace and sees the fabricated PCI sysfs (see :mod:`benchmarks.cni.spawner`);
times are what that parent sees from ``posix_spawn`` to ``wait4``.
"""
