/* vmm_ioctl - the vhost ioctls a VMM issues to drive a vhost device's rings,
 * compiled as C: <linux/vhost.h> pulls in <linux/virtio_ring.h>, whose inline
 * vring_init() is not valid C++ (as kernel_ifaces/vhost_ioctl.c).
 * Each returns 0 or -errno. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
/* The vhost ioctls vnetd itself uses are kernel_ifaces/vhost_ioctl.h's. */
#endif

/* VHOST_SET_MEM_TABLE with one region. */
int lab_vhost_set_mem_table(int fd, uint64_t guest_phys_addr, uint64_t size, uint64_t userspace_addr);
/* VHOST_SET_VRING_ADDR: the rings' addresses in this process. */
/* VHOST_NET_SET_BACKEND; backend_fd -1 detaches. */
int lab_vhost_net_set_backend(int fd, unsigned index, int backend_fd);

/* The kernel's split-ring and virtio-net constants the VMM side needs. */
extern const unsigned lab_vring_desc_f_next;
extern const unsigned lab_vring_desc_f_write;
extern const unsigned lab_virtio_f_version_1;
extern const unsigned lab_virtio_net_f_mrg_rxbuf;
extern const unsigned lab_vhost_net_f_virtio_net_hdr;
extern const unsigned lab_virtio_ring_f_event_idx;
extern const unsigned lab_virtio_ring_f_indirect_desc;
extern const unsigned lab_virtio_f_any_layout;
/* sizeof(struct virtio_net_hdr_mrg_rxbuf): the header with VERSION_1 or
 * MRG_RXBUF negotiated. */
extern const unsigned lab_virtio_net_hdr_mrg_rxbuf_size;

#ifdef __cplusplus
}
#endif
