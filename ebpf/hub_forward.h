/* hub_forward.h - what hub_forward.bpf.c and its loader share. */
#ifndef VNET_EBPF_HUB_FORWARD_H
#define VNET_EBPF_HUB_FORWARD_H

#include <linux/types.h>

/* A hub forwarded in the kernel has at most this many kernel ports; a
 * bigger one stays in userspace. */
#define HUB_FORWARD_MAX_PORTS 64

/* The handoff slot: what the packet socket's filter decided for the frame
 * the tc program is about to see on this CPU. */
#define HUB_HANDOFF_NONE 0
#define HUB_HANDOFF_USERSPACE 1
#define HUB_HANDOFF_KERNEL 2

/* The pinned maps' layout: a change here is a new directory for the pins,
 * so that a restarted vnetd never adopts maps it would misread. */
#define HUB_FORWARD_LAYOUT_VERSION 1

/* A tap facing the host (a tap netdev on a hubport): the hub's frames go
 * into the host's stack through it (redirected to its ingress), and what
 * the host sends out of it enters the hub (its tc egress). */
#define HUB_PORT_HOST_FACING 1
/* The guest's rx filter takes one unicast address, unicast_mac: a unicast
 * frame for another is not offered (its filter would drop it). */
#define HUB_PORT_ONE_UNICAST 2

struct hub_port {
  __u32 ifindex;
  __u32 slot; /* its counters' index */
  __u32 flags;
  __u8 unicast_mac[6];
  __u8 pad[2];
};

/* The hub's one state entry, written by vnetd through a shared mapping of
 * the map (BPF_F_MMAPABLE): the mode, and the port list in two generations
 * (the inactive one is rewritten, then active_gen flips with one store). */
struct hub_state {
  __u32 forwarding_kernel;
  __u32 active_gen;
  __u32 port_count[2];
  struct hub_port ports[2][HUB_FORWARD_MAX_PORTS];
};

/* Per port, per CPU: QEMU's hub counts as the userspace hub does. */
struct hub_port_counters {
  __u64 frames_in;  /* from the port's device into the hub */
  __u64 bytes_in;
  __u64 frames_out; /* out of the hub to the port's device */
  __u64 drops;      /* to the port, refused (bpf_clone_redirect failed) */
};

#endif
