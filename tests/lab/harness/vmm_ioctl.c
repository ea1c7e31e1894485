#include "tests/lab/harness/vmm_ioctl.h"

#include <errno.h>
#include <linux/vhost.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>

/* The C++ side lays the split ring out by hand; these hold it to the UAPI. */
_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc layout");
_Static_assert(offsetof(struct vring_avail, ring) == 4, "vring_avail layout");
_Static_assert(sizeof(struct vring_used_elem) == 8, "vring_used_elem layout");
_Static_assert(offsetof(struct vring_used, ring) == 4, "vring_used layout");

const unsigned lab_vring_desc_f_next = VRING_DESC_F_NEXT;
const unsigned lab_vring_desc_f_write = VRING_DESC_F_WRITE;
const unsigned lab_virtio_f_version_1 = VIRTIO_F_VERSION_1;
const unsigned lab_virtio_net_f_mrg_rxbuf = VIRTIO_NET_F_MRG_RXBUF;
const unsigned lab_vhost_net_f_virtio_net_hdr = VHOST_NET_F_VIRTIO_NET_HDR;
const unsigned lab_virtio_ring_f_event_idx = VIRTIO_RING_F_EVENT_IDX;
const unsigned lab_virtio_ring_f_indirect_desc = VIRTIO_RING_F_INDIRECT_DESC;
const unsigned lab_virtio_f_any_layout = VIRTIO_F_ANY_LAYOUT;
const unsigned lab_virtio_net_hdr_mrg_rxbuf_size = sizeof(struct virtio_net_hdr_mrg_rxbuf);

static int result(int r) { return r < 0 ? -errno : 0; }

int lab_vhost_set_mem_table(int fd, uint64_t guest_phys_addr, uint64_t size, uint64_t userspace_addr) {
  struct vhost_memory* mem = calloc(1, sizeof(*mem) + sizeof(mem->regions[0]));
  if (!mem) return -ENOMEM;
  mem->nregions = 1;
  mem->regions[0].guest_phys_addr = guest_phys_addr;
  mem->regions[0].memory_size = size;
  mem->regions[0].userspace_addr = userspace_addr;
  int r = result(ioctl(fd, VHOST_SET_MEM_TABLE, mem));
  free(mem);
  return r;
}

int lab_vhost_net_set_backend(int fd, unsigned index, int backend_fd) {
  struct vhost_vring_file file = {.index = index, .fd = backend_fd};
  return result(ioctl(fd, VHOST_NET_SET_BACKEND, &file));
}
