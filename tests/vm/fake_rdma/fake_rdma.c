// SPDX-License-Identifier: GPL-2.0
/*
 * fake_rdma: a test-only RDMA device for hostdev's VM test tier.
 *
 * Real RDMA NICs cannot be emulated by qemu, and the software drivers the
 * Debian kernels ship (rdma_rxe) cannot change network namespace. This module
 * registers one RoCE-looking ib_device per named netdev, parented to that
 * netdev's PCI function, so the device shows up where a real one would
 * (/sys/bus/pci/devices/<BDF>/infiniband/fakerdmaN) and, because the ops
 * table has disassociate_ucontext, can be moved between network namespaces
 * in exclusive mode. There is no data path: resource verbs are stubs.
 *
 * Usage: insmod fake_rdma.ko netdevs=eth0,eth2
 */

#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/string.h>
#include <linux/version.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_mad.h>

#define FAKE_GID_TABLE_LEN 16
#define FAKE_MAX_DEVICES 16

static char *netdevs;
module_param(netdevs, charp, 0444);
MODULE_PARM_DESC(netdevs, "comma-separated netdev names (init netns) to attach an RDMA device to");

struct fake_dev {
	struct ib_device ibdev; /* must stay first: ib_alloc_device() */
	struct net_device *ndev; /* held from creation until dealloc_driver */
	netdevice_tracker ndev_tracker;
};

struct fake_ucontext {
	struct ib_ucontext ibuc;
};

struct fake_pd {
	struct ib_pd ibpd;
};

struct fake_cq {
	struct ib_cq ibcq;
};

struct fake_qp {
	struct ib_qp ibqp;
};

static struct fake_dev *to_fake(struct ib_device *ibdev)
{
	return container_of(ibdev, struct fake_dev, ibdev);
}

static int fake_query_device(struct ib_device *ibdev,
			     struct ib_device_attr *attr,
			     struct ib_udata *udata)
{
	struct pci_dev *pdev = to_pci_dev(ibdev->dev.parent);

	if (udata && (udata->inlen || udata->outlen))
		return -EINVAL;
	memset(attr, 0, sizeof(*attr));
	attr->sys_image_guid = ibdev->node_guid;
	attr->vendor_id = pdev->vendor;
	attr->vendor_part_id = pdev->device;
	attr->hw_ver = pdev->revision;
	attr->max_mr_size = ~0ULL;
	attr->page_size_cap = PAGE_SIZE;
	attr->max_qp = 1;
	attr->max_qp_wr = 1;
	attr->max_send_sge = 1;
	attr->max_recv_sge = 1;
	attr->max_cq = 1;
	attr->max_cqe = 1;
	attr->max_mr = 1;
	attr->max_pd = 1;
	attr->max_pkeys = 1;
	return 0;
}

static int fake_query_port(struct ib_device *ibdev, u32 port,
			   struct ib_port_attr *attr)
{
	struct net_device *ndev = to_fake(ibdev)->ndev;
	bool up = netif_running(ndev) && netif_carrier_ok(ndev);

	memset(attr, 0, sizeof(*attr));
	attr->state = up ? IB_PORT_ACTIVE : IB_PORT_DOWN;
	attr->phys_state = up ? IB_PORT_PHYS_STATE_LINK_UP :
				IB_PORT_PHYS_STATE_DISABLED;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = IB_MTU_1024;
	attr->gid_tbl_len = FAKE_GID_TABLE_LEN;
	attr->ip_gids = true;
	attr->port_cap_flags = IB_PORT_CM_SUP;
	attr->max_msg_sz = 1 << 20;
	attr->pkey_tbl_len = 1;
	attr->active_width = IB_WIDTH_1X;
	attr->active_speed = IB_SPEED_SDR;
	return 0;
}

static int fake_get_port_immutable(struct ib_device *ibdev, u32 port,
				   struct ib_port_immutable *immutable)
{
	immutable->pkey_tbl_len = 1;
	immutable->gid_tbl_len = FAKE_GID_TABLE_LEN;
	immutable->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	immutable->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

static enum rdma_link_layer fake_get_link_layer(struct ib_device *ibdev,
						u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

static int fake_query_pkey(struct ib_device *ibdev, u32 port, u16 index,
			   u16 *pkey)
{
	if (index > 0)
		return -EINVAL;
	*pkey = 0xffff;
	return 0;
}

static int fake_alloc_ucontext(struct ib_ucontext *uctx, struct ib_udata *udata)
{
	return 0;
}

static void fake_dealloc_ucontext(struct ib_ucontext *uctx)
{
}

/* Nothing is ever mapped to user space, so there is nothing to revoke. */
static void fake_disassociate_ucontext(struct ib_ucontext *uctx)
{
}

static int fake_alloc_pd(struct ib_pd *pd, struct ib_udata *udata)
{
	return 0;
}

static int fake_dealloc_pd(struct ib_pd *pd, struct ib_udata *udata)
{
	return 0;
}

/* The create_cq signature took a uverbs_attr_bundle in 6.11. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
static int fake_create_cq(struct ib_cq *cq, const struct ib_cq_init_attr *attr,
			  struct uverbs_attr_bundle *attrs)
#else
static int fake_create_cq(struct ib_cq *cq, const struct ib_cq_init_attr *attr,
			  struct ib_udata *udata)
#endif
{
	return -EOPNOTSUPP;
}

static int fake_destroy_cq(struct ib_cq *cq, struct ib_udata *udata)
{
	return 0;
}

static int fake_create_qp(struct ib_qp *qp, struct ib_qp_init_attr *init_attr,
			  struct ib_udata *udata)
{
	return -EOPNOTSUPP;
}

static int fake_modify_qp(struct ib_qp *qp, struct ib_qp_attr *attr,
			  int attr_mask, struct ib_udata *udata)
{
	return -EOPNOTSUPP;
}

static int fake_destroy_qp(struct ib_qp *qp, struct ib_udata *udata)
{
	return 0;
}

static int fake_post_send(struct ib_qp *qp, const struct ib_send_wr *wr,
			  const struct ib_send_wr **bad_wr)
{
	*bad_wr = wr;
	return -EOPNOTSUPP;
}

static int fake_post_recv(struct ib_qp *qp, const struct ib_recv_wr *wr,
			  const struct ib_recv_wr **bad_wr)
{
	*bad_wr = wr;
	return -EOPNOTSUPP;
}

static int fake_poll_cq(struct ib_cq *cq, int num_entries, struct ib_wc *wc)
{
	return 0;
}

static int fake_req_notify_cq(struct ib_cq *cq, enum ib_cq_notify_flags flags)
{
	return 0;
}

static struct ib_mr *fake_get_dma_mr(struct ib_pd *pd, int access)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static struct ib_mr *fake_reg_user_mr(struct ib_pd *pd, u64 start, u64 length,
				      u64 virt_addr, int access,
				      struct ib_udata *udata)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static int fake_dereg_mr(struct ib_mr *mr, struct ib_udata *udata)
{
	return 0;
}

/* Called by ib_core when the device is freed, however unregistration began. */
static void fake_dealloc_driver(struct ib_device *ibdev)
{
	struct fake_dev *fd = to_fake(ibdev);

	netdev_put(fd->ndev, &fd->ndev_tracker);
}

static const struct ib_device_ops fake_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = 1,

	.query_device = fake_query_device,
	.query_port = fake_query_port,
	.get_port_immutable = fake_get_port_immutable,
	.get_link_layer = fake_get_link_layer,
	.query_pkey = fake_query_pkey,
	.alloc_ucontext = fake_alloc_ucontext,
	.dealloc_ucontext = fake_dealloc_ucontext,
	.disassociate_ucontext = fake_disassociate_ucontext,
	.alloc_pd = fake_alloc_pd,
	.dealloc_pd = fake_dealloc_pd,
	.create_cq = fake_create_cq,
	.destroy_cq = fake_destroy_cq,
	.create_qp = fake_create_qp,
	.modify_qp = fake_modify_qp,
	.destroy_qp = fake_destroy_qp,
	.post_send = fake_post_send,
	.post_recv = fake_post_recv,
	.poll_cq = fake_poll_cq,
	.req_notify_cq = fake_req_notify_cq,
	.get_dma_mr = fake_get_dma_mr,
	.reg_user_mr = fake_reg_user_mr,
	.dereg_mr = fake_dereg_mr,
	.dealloc_driver = fake_dealloc_driver,

	INIT_RDMA_OBJ_SIZE(ib_ucontext, fake_ucontext, ibuc),
	INIT_RDMA_OBJ_SIZE(ib_pd, fake_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_cq, fake_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_qp, fake_qp, ibqp),
};

/* A virtio-net netdev hangs off a virtio device, which hangs off the PCI function. */
static struct pci_dev *find_pci_parent(struct net_device *ndev)
{
	struct device *dev;

	for (dev = ndev->dev.parent; dev; dev = dev->parent)
		if (dev_is_pci(dev))
			return to_pci_dev(dev);
	return NULL;
}

/* EUI-64 from the MAC, the way RoCE NICs derive their node GUID. */
static __be64 guid_from_mac(const unsigned char *mac)
{
	u8 guid[8] = { mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe,
		       mac[3], mac[4], mac[5] };
	__be64 out;

	memcpy(&out, guid, sizeof(out));
	return out;
}

static int fake_add(const char *name)
{
	struct net_device *ndev;
	struct pci_dev *pdev;
	struct fake_dev *fd;
	int err;

	ndev = dev_get_by_name(&init_net, name);
	if (!ndev) {
		pr_err("fake_rdma: no netdev %s in the initial netns\n", name);
		return -ENODEV;
	}
	pdev = find_pci_parent(ndev);
	if (!pdev) {
		pr_err("fake_rdma: %s has no PCI parent\n", name);
		dev_put(ndev);
		return -ENODEV;
	}

	fd = ib_alloc_device(fake_dev, ibdev);
	if (!fd) {
		dev_put(ndev);
		return -ENOMEM;
	}
	/* Trade the lookup reference for a tracked one owned by fd. */
	fd->ndev = ndev;
	netdev_hold(ndev, &fd->ndev_tracker, GFP_KERNEL);
	dev_put(ndev);

	ib_set_device_ops(&fd->ibdev, &fake_ops);
	fd->ibdev.node_type = RDMA_NODE_IB_CA;
	fd->ibdev.phys_port_cnt = 1;
	fd->ibdev.num_comp_vectors = 1;
	fd->ibdev.node_guid = guid_from_mac(ndev->dev_addr);
	fd->ibdev.dev.parent = &pdev->dev;
	strscpy(fd->ibdev.node_desc, "hostdev fake_rdma",
		sizeof(fd->ibdev.node_desc));

	err = ib_device_set_netdev(&fd->ibdev, ndev, 1);
	if (err)
		goto fail;
	err = ib_register_device(&fd->ibdev, "fakerdma%d", &pdev->dev);
	if (err)
		goto fail;
	pr_info("fake_rdma: %s on %s (%s)\n", dev_name(&fd->ibdev.dev), name,
		pci_name(pdev));
	return 0;

fail:
	pr_err("fake_rdma: registering on %s failed: %d\n", name, err);
	/* ib_dealloc_device() runs dealloc_driver, which drops the netdev. */
	ib_dealloc_device(&fd->ibdev);
	return err;
}

/*
 * A netdev that is really going away (VF removal, driver unbind) must not be
 * pinned by us. NETDEV_UNREGISTER is also sent when a netdev merely changes
 * network namespace; the device must survive that, like a real NIC's does.
 */
static int fake_netdev_event(struct notifier_block *nb, unsigned long event,
			     void *ptr)
{
	struct net_device *ndev = netdev_notifier_info_to_dev(ptr);
	struct ib_device *ibdev;

	if (event != NETDEV_UNREGISTER || ndev->reg_state != NETREG_UNREGISTERING)
		return NOTIFY_DONE;
	ibdev = ib_device_get_by_netdev(ndev, RDMA_DRIVER_UNKNOWN);
	if (!ibdev)
		return NOTIFY_DONE;
	if (ibdev->ops.dealloc_driver == fake_dealloc_driver)
		ib_unregister_device_queued(ibdev);
	ib_device_put(ibdev);
	return NOTIFY_DONE;
}

static struct notifier_block fake_netdev_nb = {
	.notifier_call = fake_netdev_event,
};

static int __init fake_rdma_init(void)
{
	char *list, *cursor, *name;
	int err, added = 0;

	if (!netdevs || !*netdevs) {
		pr_err("fake_rdma: netdevs=<name>[,<name>...] is required\n");
		return -EINVAL;
	}
	err = register_netdevice_notifier(&fake_netdev_nb);
	if (err)
		return err;

	list = kstrdup(netdevs, GFP_KERNEL);
	if (!list) {
		err = -ENOMEM;
		goto out_notifier;
	}
	cursor = list;
	while ((name = strsep(&cursor, ",")) != NULL) {
		if (!*name)
			continue;
		if (added == FAKE_MAX_DEVICES) {
			err = -E2BIG;
			break;
		}
		err = fake_add(name);
		if (err)
			break;
		added++;
	}
	kfree(list);
	if (err)
		goto out_devices;
	return 0;

out_devices:
	ib_unregister_driver(RDMA_DRIVER_UNKNOWN);
out_notifier:
	unregister_netdevice_notifier(&fake_netdev_nb);
	return err;
}

static void __exit fake_rdma_exit(void)
{
	unregister_netdevice_notifier(&fake_netdev_nb);
	/* Also waits for unregistrations queued by the notifier. */
	ib_unregister_driver(RDMA_DRIVER_UNKNOWN);
}

module_init(fake_rdma_init);
module_exit(fake_rdma_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Test-only RDMA device on a PCI NIC, movable between network namespaces");
MODULE_AUTHOR("hostdev test suite");
