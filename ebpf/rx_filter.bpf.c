/* rx_filter.bpf.c - a guest NIC's receive filter, enforced on the tap behind
 * it (TUNSETFILTEREBPF): frames the host sends towards the guest that the
 * guest's filter would drop are dropped in the kernel, whoever reads the tap
 * (a VMM or vhost-net). The decision is QEMU's virtio-net receive_filter(). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "rx_filter.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, RX_FILTER_SLOTS);
  __type(key, __u32);
  __type(value, struct rx_filter_config);
} config SEC(".maps");

/* Which config slot is current. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} current_slot SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 2 * 2 * RX_FILTER_MAX_MACS);
  __type(key, struct rx_filter_mac_key);
  __type(value, __u8);
} mac_table SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, RX_COUNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline int in_table(const __u8 *mac, __u32 slot) {
  struct rx_filter_mac_key key = {};
  __builtin_memcpy(key.mac, mac, ETH_ALEN);
  key.slot = slot;
  return bpf_map_lookup_elem(&mac_table, &key) != 0;
}

static __always_inline int same_mac(const __u8 *a, const __u8 *b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline int accept(struct __sk_buff *skb, const struct rx_filter_config *cfg, __u32 slot) {
  if (cfg->promiscuous) return 1;

  __u8 eth[ETH_HLEN + 2];
  if (bpf_skb_load_bytes_relative(skb, 0, eth, ETH_HLEN, BPF_HDR_START_MAC) < 0) return 0;

  /* A VLAN tag is either still in the frame or already in skb metadata. */
  int tagged = 0;
  __u32 vid = 0;
  if (skb->vlan_present && skb->vlan_proto == bpf_htons(ETH_P_8021Q)) {
    tagged = 1;
    vid = skb->vlan_tci & 0xfff;
  } else if (eth[12] == 0x81 && eth[13] == 0x00) {
    if (bpf_skb_load_bytes_relative(skb, ETH_HLEN, eth + ETH_HLEN, 2, BPF_HDR_START_MAC) < 0) return 0;
    tagged = 1;
    vid = ((eth[14] << 8) | eth[15]) & 0xfff;
  }
  if (tagged && cfg->vlan_mode != RX_MODE_ALL) {
    if (cfg->vlan_mode == RX_MODE_NONE) return 0;
    if (!(cfg->vlans[(vid >> 5) & 127] & (1u << (vid & 31)))) return 0;
  }

  if (eth[0] & 1) {
    if ((eth[0] & eth[1] & eth[2] & eth[3] & eth[4] & eth[5]) == 0xff) return cfg->broadcast_allowed;
    if (cfg->multicast_mode == RX_MODE_NONE) return 0;
    if (cfg->multicast_mode == RX_MODE_ALL || cfg->multicast_overflow) return 1;
    return in_table(eth, slot);
  }
  if (cfg->unicast_mode == RX_MODE_NONE) return 0;
  if (cfg->unicast_mode == RX_MODE_ALL || cfg->unicast_overflow) return 1;
  if (same_mac(eth, cfg->main_mac)) return 1;
  return in_table(eth, slot);
}

static __always_inline void count(__u32 which) {
  __u64 *n = bpf_map_lookup_elem(&counters, &which);
  if (n) *n += 1;
}

SEC("socket")
int rx_filter(struct __sk_buff *skb) {
  __u32 zero = 0;
  __u32 *current = bpf_map_lookup_elem(&current_slot, &zero);
  if (!current) return skb->len;
  __u32 slot = *current & 1;
  struct rx_filter_config *cfg = bpf_map_lookup_elem(&config, &slot);
  if (!cfg) return skb->len;
  if (accept(skb, cfg, slot)) {
    count(RX_COUNT_PASSED);
    return skb->len;
  }
  count(RX_COUNT_DROPPED);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
