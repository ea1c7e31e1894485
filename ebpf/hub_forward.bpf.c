/* hub_forward.bpf.c - a hub whose ports are all kernel devices (NICs' own
 * taps), forwarded in the kernel: on each tap's tc ingress, a frame its
 * guest sent is repeated to every other port's tap with bpf_clone_redirect,
 * out towards that guest (QEMU's net/hub.c floods the same way).
 *
 * A tap netdev facing the host is a port too: its tc egress enters the hub,
 * and the hub's frames are redirected to its ingress.
 *
 * One object per hub. vnetd's packet socket on each tap (the userspace
 * path) runs hub_socket_filter first, for the same frame on the same CPU:
 * it reads the hub's mode once and leaves its decision in a per-CPU slot
 * the tc program takes. A frame thus goes one way or the other even when
 * the mode flips between the two programs: none is lost or sent twice. */
#include <stdbool.h>
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

static __always_inline __u64 redirect_flags(const struct hub_port *port) {
  return port->flags & HUB_PORT_HOST_FACING ? BPF_F_INGRESS : 0;
}

static __always_inline bool same_mac(const __u8 *a, const __u8 *b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline void count_out(__u32 slot, long err) {
  struct hub_port_counters *counted = bpf_map_lookup_elem(&counters, &slot);
  if (!counted) return;
  if (err < 0) counted->drops++;
  else counted->frames_out++;
}

/* Repeats the frame to every port of the hub but `from`, counting it in for
 * `from`: a clone to each but the last, and the frame itself to the last
 * (one copy fewer, and the hook's verdict is a redirect, which a sender
 * sees as sent; tcx knows no "stolen"). Returns the tc verdict. */
static __always_inline int flood(struct __sk_buff *skb, struct hub_state *hub, __u32 from, bool host_facing) {
  __u32 gen = *(volatile __u32 *)&hub->active_gen & 1;
  __u32 count = hub->port_count[gen];
  __u32 len = skb->len;
  __u8 dst[6] = {};
  if (bpf_skb_load_bytes(skb, 0, dst, sizeof dst)) return TC_ACT_UNSPEC;
  const bool unicast = !(dst[0] & 1);
  /* A guest's frame to another MAC came in as "for another host". A port
   * that tunnels it (an l2tpethN) keeps that mark on the tunnel packet, and
   * over loopback the peer's IP layer drops such a packet: so they go out as
   * the host's own. Taps ignore the mark. */
  bpf_skb_change_type(skb, 0 /* PACKET_HOST */);
  struct hub_port pending = {};
  bool have_pending = false;
  __u32 from_slot = HUB_FORWARD_MAX_PORTS;
  for (__u32 i = 0; i < HUB_FORWARD_MAX_PORTS; i++) {
    if (i >= count) break;
    struct hub_port port = hub->ports[gen][i];
    if (port.ifindex == from) {
      from_slot = port.slot;
      continue;
    }
    /* Not offered to a guest whose filter would drop it: counted as out,
     * as the userspace hub counts what it sends to that guest's tap. */
    if (unicast && (port.flags & HUB_PORT_ONE_UNICAST) && !same_mac(port.unicast_mac, dst)) {
      count_out(port.slot, 0);
      continue;
    }
    if (have_pending) {
      /* Out of a guest's tap, towards its guest (its rx filter decides), or
       * into the host's stack through a tap facing it. A positive result
       * is the tap's own verdict (NET_XMIT_DROP: its filter, or its queue
       * full): the frame did go out to the port, as the userspace hub
       * counts it. A negative one is the redirect's failure. */
      count_out(pending.slot, bpf_clone_redirect(skb, pending.ifindex, redirect_flags(&pending)));
    }
    pending = port;
    have_pending = true;
  }
  /* A hub of one port: the frame goes on, to the host sink (counted in
   * here), or through a host-facing tap's queue to vnetd (which counts it
   * and floods it to nobody, as the host's send must not fail). */
  if (!have_pending && host_facing) return TC_ACT_UNSPEC;
  struct hub_port_counters *counted = bpf_map_lookup_elem(&counters, &from_slot);
  if (counted) {
    counted->frames_in++;
    counted->bytes_in += len;
  }
  if (!have_pending) return TC_ACT_UNSPEC;
  /* The last copy's fate is decided after we return: counted as sent. */
  count_out(pending.slot, 0);
  return bpf_redirect(pending.ifindex, redirect_flags(&pending));
}

/* On a guest's tap's tc ingress: what the guest sent. */
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
  return flood(skb, hub, skb->ingress_ifindex, false);
}

/* On a host-facing tap's tc egress: what the host sends out of it. Only
 * this program decides (vnetd reads the tap's queue, after it), so the mode
 * is read once per frame here. */
SEC("tc")
int hub_forward_egress(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct hub_state *hub = bpf_map_lookup_elem(&state, &zero);
  if (!hub || !*(volatile __u32 *)&hub->forwarding_kernel) return TC_ACT_UNSPEC; /* to vnetd, through the queue */
  /* A redirect, not a drop: the sender's send succeeds (a drop would fail
   * it with ENOBUFS, and TCP would send the segment again). */
  return flood(skb, hub, skb->ifindex, true);
}

char LICENSE[] SEC("license") = "GPL";
