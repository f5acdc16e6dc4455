"""PCI/sysfs device discovery (no imports here: the CNI binary imports lazily).

pci_address: strict BDF / auxiliary id parsing; netdev_name: interface name
validation; pci_function: one PCI function (driver, netdevs, RDMA, SR-IOV);
auxiliary: auxiliary-bus sub-devices; netdev_lookup: netdev -> PCI function;
errors: the SysfsError hierarchy; _fs: the only module that touches files.
sysfs only shows netdevs/RDMA devices of the netns that mounted it.
"""
