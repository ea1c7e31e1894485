/* hub_forward.bpf.c - a hub whose ports are all kernel devices (NICs' own
 * taps), forwarded in the kernel: on each tap's tc ingress, a frame its
 * guest sent is repeated to every other port's tap with bpf_clone_redirect,
 * out towards that guest (QEMU's net/hub.c floods the same way).
 *
 * One object per hub. vnetd's packet socket on each tap (the userspace
 * path) runs hub_socket_filter first, for the same frame on the same CPU:
 * it reads the hub's mode once and leaves its decision in a per-CPU slot
 * the tc program takes. A frame thus goes one way or the other even when
 * the mode flips between the two programs: none is lost or sent twice. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "hub_forward.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct hub_state);
} state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} handoff SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HUB_FORWARD_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct hub_port_counters);
} counters SEC(".maps");

SEC("socket")
int hub_socket_filter(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct hub_state *hub = bpf_map_lookup_elem(&state, &zero);
  __u32 kernel = hub ? *(volatile __u32 *)&hub->forwarding_kernel : 0;
  __u32 *slot = bpf_map_lookup_elem(&handoff, &zero);
  if (slot) *slot = kernel ? HUB_HANDOFF_KERNEL : HUB_HANDOFF_USERSPACE;
  return kernel ? 0 : skb->len;
}

SEC("tc")
int hub_forward(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct hub_state *hub = bpf_map_lookup_elem(&state, &zero);
  if (!hub) return TC_ACT_UNSPEC;
  __u32 *slot = bpf_map_lookup_elem(&handoff, &zero);
  __u32 decided = HUB_HANDOFF_NONE;
  if (slot) {
    decided = *slot;
    *slot = HUB_HANDOFF_NONE;
  }
  /* No socket saw it (none open yet): the mode decides. */
  if (decided == HUB_HANDOFF_NONE)
    decided = *(volatile __u32 *)&hub->forwarding_kernel ? HUB_HANDOFF_KERNEL : HUB_HANDOFF_USERSPACE;
  if (decided != HUB_HANDOFF_KERNEL) return TC_ACT_UNSPEC; /* the host sink after us drops it */

  __u32 gen = *(volatile __u32 *)&hub->active_gen & 1;
  __u32 count = hub->port_count[gen];
  __u32 from = skb->ingress_ifindex;
  __u32 len = skb->len;
  for (__u32 i = 0; i < HUB_FORWARD_MAX_PORTS; i++) {
    if (i >= count) break;
    struct hub_port port = hub->ports[gen][i];
    __u32 index = port.slot;
    struct hub_port_counters *counted = bpf_map_lookup_elem(&counters, &index);
    if (port.ifindex == from) {
      if (counted) {
        counted->frames_in++;
        counted->bytes_in += len;
      }
      continue;
    }
    /* Out of the other tap, towards its guest: its rx filter decides. A
     * positive result is the tap's own verdict (NET_XMIT_DROP: its filter,
     * or its queue full): the frame did go out to the port, as the
     * userspace hub counts it. A negative one is the redirect's failure. */
    long err = bpf_clone_redirect(skb, port.ifindex, 0);
    if (counted) {
      if (err < 0) counted->drops++;
      else counted->frames_out++;
    }
  }
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
