/* anti_spoof.bpf.c - a guest NIC's anti-spoofing, on the tap behind it:
 * frames the guest sends (written into the tap by its VMM or by vhost-net)
 * are received on the tap, and those claiming an Ethernet, ARP or IP source
 * that is not the guest's are dropped there, before the host's bridge or
 * stack sees them. Two hooks, one check: tc ingress (tcx, or cls_bpf on
 * older kernels) for a tap the host's stack or bridge takes in, and generic
 * XDP for a NIC's own tap on a hub, whose frames vnetd reads with a packet
 * socket, which sees them before tc does. What is checked and what passes
 * is in docs/anti-spoof.md. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "anti_spoof.h"

/* Headers looked at must be in the skb's linear part; a tap's small frames
 * always are, a large one is pulled this far. */
#define HEADERS_PULLED 256
#define IPPROTO_UDP_ 17
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_DEST 60
#define NEXTHDR_ICMPV6 58
#define ICMPV6_MLD_REPORT 131
#define ICMPV6_RS 133
#define ICMPV6_NS 135
#define ICMPV6_NA 136
#define ICMPV6_MLD2_REPORT 143

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct anti_spoof_config);
} config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, ANTI_SPOOF_MAX_PREFIXES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct anti_spoof_v4_key);
  __type(value, __u8);
} allowed_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, ANTI_SPOOF_MAX_PREFIXES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct anti_spoof_v6_key);
  __type(value, __u8);
} allowed_v6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, AS_COUNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Counts the frame under `which` (AS_COUNT_PASSED, or why it is dropped)
 * and returns it for the hook to turn into its own verdict. */
static __always_inline __u32 verdict(__u32 which) {
  __u64 *n = bpf_map_lookup_elem(&counters, &which);
  if (n) *n += 1;
  return which;
}

static __always_inline int same_mac(const __u8 *a, const __u8 *b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline int v4_allowed(const __u8 *addr) {
  struct anti_spoof_v4_key key = {.prefixlen = 32};
  __builtin_memcpy(key.addr, addr, 4);
  return bpf_map_lookup_elem(&allowed_v4, &key) != 0;
}

static __always_inline int v6_allowed(const __u8 *addr) {
  struct anti_spoof_v6_key key = {.prefixlen = 128};
  __builtin_memcpy(key.addr, addr, 16);
  return bpf_map_lookup_elem(&allowed_v6, &key) != 0;
}

/* fe80::/64: a guest's link-local address, needed for neighbour discovery. */
static __always_inline int v6_link_local(const __u8 *a) {
  return a[0] == 0xfe && a[1] == 0x80 && !(a[2] | a[3] | a[4] | a[5] | a[6] | a[7]);
}

static __always_inline int v6_unspecified(const __u8 *a) {
  __u8 any = 0;
#pragma unroll
  for (int i = 0; i < 16; i++) any |= a[i];
  return !any;
}

/* Ethernet/IPv4 ARP: the sender must be the NIC, its IP allowed or 0.0.0.0
 * (an ARP probe, RFC 5227). Other ARP shapes have no business here. */
static __always_inline __u32 check_arp(const __u8 *arp, const void *end, const struct anti_spoof_config *cfg) {
  if ((const void *)(arp + 28) > end) return verdict(AS_COUNT_BAD_ARP);
  if (arp[0] != 0 || arp[1] != 1 || arp[2] != 0x08 || arp[3] != 0x00 || arp[4] != 6 || arp[5] != 4) {
    return verdict(AS_COUNT_BAD_ARP);
  }
  if (!same_mac(arp + 8, cfg->mac)) return verdict(AS_COUNT_BAD_ARP);
  const __u8 *spa = arp + 14;
  if (!(spa[0] | spa[1] | spa[2] | spa[3])) return verdict(AS_COUNT_PASSED);
  return verdict(v4_allowed(spa) ? AS_COUNT_PASSED : AS_COUNT_BAD_ARP);
}

/* An allowed source, or DHCP from 0.0.0.0 (a client without an address:
 * UDP 68 -> 67, first fragment). */
static __always_inline __u32 check_ipv4(const __u8 *ip, const void *end) {
  if ((const void *)(ip + 20) > end || (ip[0] >> 4) != 4) return verdict(AS_COUNT_BAD_IPV4);
  const __u8 *src = ip + 12;
  if (src[0] | src[1] | src[2] | src[3]) return verdict(v4_allowed(src) ? AS_COUNT_PASSED : AS_COUNT_BAD_IPV4);
  __u32 header_len = (ip[0] & 0xf) * 4;
  if (header_len < 20 || ip[9] != IPPROTO_UDP_ || (ip[6] & 0x1f) || ip[7]) return verdict(AS_COUNT_BAD_IPV4);
  const __u8 *udp = ip + header_len;
  if ((const void *)(udp + 4) > end) return verdict(AS_COUNT_BAD_IPV4);
  int dhcp = udp[0] == 0 && udp[1] == 68 && udp[2] == 0 && udp[3] == 67;
  return verdict(dhcp ? AS_COUNT_PASSED : AS_COUNT_BAD_IPV4);
}

/* An allowed or link-local source, or `::` for what a host sends before it
 * has an address (DAD's NS, RS, MLD reports); a neighbour advertisement's
 * target must be allowed or link-local too, whatever its source. */
static __always_inline __u32 check_ipv6(const __u8 *ip, const void *end) {
  if ((const void *)(ip + 40) > end || (ip[0] >> 4) != 6) return verdict(AS_COUNT_BAD_IPV6);
  /* Up to three hop-by-hop, routing or destination option headers (MLD
   * reports carry a hop-by-hop one) are looked through to the ICMPv6 type. */
  __u8 next = ip[6];
  __u32 off = 40;
#pragma unroll
  for (int i = 0; i < 3; i++) {
    if (next != NEXTHDR_HOP && next != NEXTHDR_ROUTING && next != NEXTHDR_DEST) break;
    const __u8 *ext = ip + off;
    if ((const void *)(ext + 2) > end) return verdict(AS_COUNT_BAD_IPV6);
    next = ext[0];
    off += (ext[1] + 1) * 8;
  }
  if (next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_DEST) return verdict(AS_COUNT_BAD_IPV6);
  int icmp_type = -1;
  const __u8 *icmp = ip + off;
  if (next == NEXTHDR_ICMPV6) {
    if ((const void *)(icmp + 1) > end) return verdict(AS_COUNT_BAD_IPV6);
    icmp_type = icmp[0];
  }

  const __u8 *src = ip + 8;
  if (v6_unspecified(src)) {
    if (icmp_type != ICMPV6_NS && icmp_type != ICMPV6_RS && icmp_type != ICMPV6_MLD_REPORT &&
        icmp_type != ICMPV6_MLD2_REPORT) {
      return verdict(AS_COUNT_BAD_IPV6);
    }
  } else if (!v6_link_local(src) && !v6_allowed(src)) {
    return verdict(AS_COUNT_BAD_IPV6);
  }
  if (icmp_type == ICMPV6_NA) {
    if ((const void *)(icmp + 24) > end) return verdict(AS_COUNT_BAD_NA);
    const __u8 *target = icmp + 8;
    if (!v6_link_local(target) && !v6_allowed(target)) return verdict(AS_COUNT_BAD_NA);
  }
  return verdict(AS_COUNT_PASSED);
}

/* The frame from its Ethernet header to end: AS_COUNT_PASSED or why not. */
static __always_inline __u32 check_frame(const __u8 *eth, const void *end, const struct anti_spoof_config *cfg) {
  if ((const void *)(eth + ETH_HLEN) > end) return verdict(AS_COUNT_BAD_MAC);
  if (!same_mac(eth + ETH_ALEN, cfg->mac)) return verdict(AS_COUNT_BAD_MAC);

  /* A tag the kernel took into skb metadata is gone from the frame; up to
   * two more in the frame are looked through to the ethertype inside. */
  const __u8 *l3 = eth + ETH_HLEN;
  __u16 proto = (eth[12] << 8) | eth[13];
#pragma unroll
  for (int i = 0; i < 2; i++) {
    if (proto != ETH_P_8021Q && proto != ETH_P_8021AD) break;
    if ((const void *)(l3 + 4) > end) break;
    proto = (l3[2] << 8) | l3[3];
    l3 += 4;
  }
  if (proto == ETH_P_ARP) return check_arp(l3, end, cfg);
  if (proto == ETH_P_IP) return check_ipv4(l3, end);
  if (proto == ETH_P_IPV6) return check_ipv6(l3, end);
  return verdict(cfg->drop_other ? AS_COUNT_OTHER : AS_COUNT_PASSED);
}

/* A frame that passes is left to whatever comes after us on the hook
 * (TC_ACT_UNSPEC is tcx's TCX_NEXT): another tool's filters still run. */
SEC("tc")
int anti_spoof(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct anti_spoof_config *cfg = bpf_map_lookup_elem(&config, &zero);
  if (!cfg) return TC_ACT_UNSPEC;
  __u32 linear = skb->data_end - skb->data;
  if (linear < HEADERS_PULLED && skb->len > linear) {
    bpf_skb_pull_data(skb, skb->len < HEADERS_PULLED ? skb->len : HEADERS_PULLED);
  }
  const __u8 *eth = (const __u8 *)(long)skb->data;
  const void *end = (const void *)(long)skb->data_end;
  return check_frame(eth, end, cfg) == AS_COUNT_PASSED ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

/* Generic XDP sees the frame linear, with its VLAN tags still in it. */
SEC("xdp")
int anti_spoof_xdp(struct xdp_md *ctx) {
  __u32 zero = 0;
  struct anti_spoof_config *cfg = bpf_map_lookup_elem(&config, &zero);
  if (!cfg) return XDP_PASS;
  const __u8 *eth = (const __u8 *)(long)ctx->data;
  const void *end = (const void *)(long)ctx->data_end;
  return check_frame(eth, end, cfg) == AS_COUNT_PASSED ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
