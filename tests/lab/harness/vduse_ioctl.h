/* vduse_ioctl - the VDUSE ioctls and messages the lab's VDUSE device needs,
 * in C (<linux/vduse.h> has a flexible array member, not valid C++). */
#ifndef VNET_LAB_VDUSE_IOCTL_H
#define VNET_LAB_VDUSE_IOCTL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates /dev/vduse/NAME, a virtio-net device with this config space and
 * vq_num queues of max_size each (VDUSE_SET_API_VERSION, VDUSE_CREATE_DEV,
 * VDUSE_VQ_SETUP); returns the device's fd, or -errno. control_fd is the
 * open /dev/vduse/control. */
int lab_vduse_create_net(int control_fd, const char* name, uint64_t features, const uint8_t mac[6], uint16_t status,
                         uint16_t max_vqp, uint16_t mtu, uint32_t vq_num, uint16_t max_size);
/* VDUSE_DESTROY_DEV: 0 or -errno. */
int lab_vduse_destroy(int control_fd, const char* name);
/* Reads one request from the device fd and answers it (status changes and
 * IOTLB updates are taken, a queue's state is "nothing used yet"); returns
 * the request's type, or -errno (-EAGAIN when none is waiting). */
int lab_vduse_serve_one(int dev_fd, uint8_t* status_out);
extern const int lab_vduse_set_status, lab_vduse_update_iotlb;

/* The datapath of the loopback device. */
/* VDUSE_VQ_GET_INFO: the rings' IOVAs, size and readiness; 0 or -errno. */
int lab_vduse_vq_info(int dev_fd, unsigned index, uint64_t* desc, uint64_t* driver, uint64_t* device, uint32_t* num,
                      int* ready);
/* VDUSE_VQ_SETUP_KICKFD: the eventfd the driver's kicks arrive on. */
int lab_vduse_vq_kickfd(int dev_fd, unsigned index, int eventfd);
/* VDUSE_VQ_INJECT_IRQ. */
int lab_vduse_vq_irq(int dev_fd, unsigned index);
/* VDUSE_IOTLB_GET_FD for the mapping holding iova: returns its fd (to mmap at
 * *offset) and the mapping's [*start, *last], or -errno. */
int lab_vduse_iotlb_fd(int dev_fd, uint64_t iova, uint64_t* start, uint64_t* last, uint64_t* offset);

#ifdef __cplusplus
}
#endif

#endif
