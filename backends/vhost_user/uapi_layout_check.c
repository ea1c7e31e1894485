/* uapi_layout_check - compiled as C (uapi's <linux/vhost_types.h> is not
 * valid C++), it checks that the layouts and bits vhost_user_protocol.h
 * restates are the kernel's. It compiles to nothing. */
#include <linux/vhost_types.h>
#include <stddef.h>

_Static_assert(VHOST_F_LOG_ALL == 26, "VHOST_F_LOG_ALL");
_Static_assert(VHOST_VRING_F_LOG == 0, "VHOST_VRING_F_LOG");
_Static_assert(VHOST_PAGE_SIZE == 0x1000, "VHOST_LOG_PAGE is the vhost page");
_Static_assert(sizeof(struct vhost_vring_state) == 8 && offsetof(struct vhost_vring_state, num) == 4,
               "VringState");
_Static_assert(sizeof(struct vhost_vring_addr) == 40 && offsetof(struct vhost_vring_addr, flags) == 4 &&
                   offsetof(struct vhost_vring_addr, desc_user_addr) == 8 &&
                   offsetof(struct vhost_vring_addr, used_user_addr) == 16 &&
                   offsetof(struct vhost_vring_addr, avail_user_addr) == 24 &&
                   offsetof(struct vhost_vring_addr, log_guest_addr) == 32,
               "VringAddress");
_Static_assert(sizeof(struct vhost_memory_region) == 32 &&
                   offsetof(struct vhost_memory_region, guest_phys_addr) == 0 &&
                   offsetof(struct vhost_memory_region, memory_size) == 8 &&
                   offsetof(struct vhost_memory_region, userspace_addr) == 16 &&
                   offsetof(struct vhost_memory_region, flags_padding) == 24,
               "kRegionWireSize and the region's field order");
_Static_assert(sizeof(struct vhost_memory) == 8, "kMemoryTableHeaderSize");
