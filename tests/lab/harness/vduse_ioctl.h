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
int lab_vduse_serve_one(int dev_fd);

#ifdef __cplusplus
}
#endif

#endif
