#include "tests/lab/harness/vduse_ioctl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vduse.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int lab_vduse_create_net(int control_fd, const char* name, uint64_t features, const uint8_t mac[6], uint16_t status,
                         uint16_t max_vqp, uint16_t mtu, uint32_t vq_num, uint16_t max_size) {
  uint64_t api = VDUSE_API_VERSION;
  if (ioctl(control_fd, VDUSE_SET_API_VERSION, &api) < 0) return -errno;
  struct virtio_net_config net;
  memset(&net, 0, sizeof net);
  memcpy(net.mac, mac, 6);
  net.status = status;
  net.max_virtqueue_pairs = max_vqp;
  net.mtu = mtu;
  size_t size = sizeof(struct vduse_dev_config) + sizeof net;
  struct vduse_dev_config* config = calloc(1, size);
  if (!config) return -ENOMEM;
  snprintf(config->name, sizeof config->name, "%s", name);
  config->device_id = 1; /* VIRTIO_ID_NET */
  config->features = features;
  config->vq_num = vq_num;
  config->vq_align = 4096;
  config->config_size = sizeof net;
  memcpy(config->config, &net, sizeof net);
  int r = ioctl(control_fd, VDUSE_CREATE_DEV, config);
  int saved = errno;
  free(config);
  if (r < 0) return -saved;

  char path[300];
  snprintf(path, sizeof path, "/dev/vduse/%s", name);
  int fd = -1;
  for (int tries = 0; tries < 200 && fd < 0; tries++) { /* devtmpfs makes the node a moment later */
    fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT) break;
    if (fd < 0) usleep(10000);
  }
  if (fd < 0) {
    saved = errno;
    lab_vduse_destroy(control_fd, name);
    return -saved;
  }
  for (uint32_t i = 0; i < vq_num; i++) {
    struct vduse_vq_config vq;
    memset(&vq, 0, sizeof vq);
    vq.index = i;
    vq.max_size = max_size;
    if (ioctl(fd, VDUSE_VQ_SETUP, &vq) < 0) {
      saved = errno;
      close(fd);
      lab_vduse_destroy(control_fd, name);
      return -saved;
    }
  }
  return fd;
}

int lab_vduse_destroy(int control_fd, const char* name) {
  char buffer[VDUSE_NAME_MAX];
  memset(buffer, 0, sizeof buffer);
  snprintf(buffer, sizeof buffer, "%s", name);
  return ioctl(control_fd, VDUSE_DESTROY_DEV, buffer) < 0 ? -errno : 0;
}

const int lab_vduse_set_status = VDUSE_SET_STATUS, lab_vduse_update_iotlb = VDUSE_UPDATE_IOTLB;

int lab_vduse_serve_one(int dev_fd, uint8_t* status_out) {
  struct vduse_dev_request request;
  ssize_t n = read(dev_fd, &request, sizeof request);
  if (n < 0) return -errno;
  if (n != sizeof request) return -EIO;
  struct vduse_dev_response response;
  memset(&response, 0, sizeof response);
  response.request_id = request.request_id;
  response.result = VDUSE_REQ_RESULT_OK;
  if (request.type == VDUSE_SET_STATUS && status_out) *status_out = request.s.status;
  if (request.type == VDUSE_GET_VQ_STATE) {
    response.vq_state.index = request.vq_state.index;
    response.vq_state.split.avail_index = 0;
  }
  if (write(dev_fd, &response, sizeof response) != sizeof response) return -errno;
  return (int)request.type;
}

int lab_vduse_vq_info(int dev_fd, unsigned index, uint64_t* desc, uint64_t* driver, uint64_t* device, uint32_t* num,
                      int* ready) {
  struct vduse_vq_info info;
  memset(&info, 0, sizeof info);
  info.index = index;
  if (ioctl(dev_fd, VDUSE_VQ_GET_INFO, &info) < 0) return -errno;
  *desc = info.desc_addr;
  *driver = info.driver_addr;
  *device = info.device_addr;
  *num = info.num;
  *ready = info.ready;
  return 0;
}

int lab_vduse_vq_kickfd(int dev_fd, unsigned index, int eventfd) {
  struct vduse_vq_eventfd file = {.index = index, .fd = eventfd};
  return ioctl(dev_fd, VDUSE_VQ_SETUP_KICKFD, &file) < 0 ? -errno : 0;
}

int lab_vduse_vq_irq(int dev_fd, unsigned index) {
  uint32_t i = index;
  return ioctl(dev_fd, VDUSE_VQ_INJECT_IRQ, &i) < 0 ? -errno : 0;
}

int lab_vduse_iotlb_fd(int dev_fd, uint64_t iova, uint64_t* start, uint64_t* last, uint64_t* offset) {
  struct vduse_iotlb_entry entry;
  memset(&entry, 0, sizeof entry);
  entry.start = iova;
  entry.last = iova;
  int fd = ioctl(dev_fd, VDUSE_IOTLB_GET_FD, &entry);
  if (fd < 0) return -errno;
  *start = entry.start;
  *last = entry.last;
  *offset = entry.offset;
  return fd;
}
