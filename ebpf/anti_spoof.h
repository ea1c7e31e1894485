/* anti_spoof.h - the maps' layout, shared by anti_spoof.bpf.c and its C++
 * loader. Fixed-width types only. Bump ANTI_SPOOF_LAYOUT_VERSION when the
 * layout changes: pinned maps of another version are not re-adopted. */
#pragma once

#include <linux/types.h>

#define ANTI_SPOOF_LAYOUT_VERSION 1
/* Prefixes per family and NIC (the LPM tries' max_entries). */
#define ANTI_SPOOF_MAX_PREFIXES 1024

struct anti_spoof_config {
  __u8 mac[6];        /* the NIC's MAC: the only Ethernet and ARP sender allowed */
  __u8 drop_other;    /* frames neither IPv4, IPv6 nor ARP: 1 drop, 0 pass */
  __u8 layout_version;
};

/* LPM trie keys: prefixlen first, then the address in network order. */
struct anti_spoof_v4_key {
  __u32 prefixlen;
  __u8 addr[4];
};

struct anti_spoof_v6_key {
  __u32 prefixlen;
  __u8 addr[16];
};

enum anti_spoof_counter {
  AS_COUNT_BAD_MAC = 0,   /* Ethernet source is not the NIC's MAC */
  AS_COUNT_BAD_ARP = 1,   /* ARP sender MAC or IP not allowed, or not Ethernet/IPv4 ARP */
  AS_COUNT_BAD_IPV4 = 2,  /* IPv4 source not allowed */
  AS_COUNT_BAD_IPV6 = 3,  /* IPv6 source not allowed */
  AS_COUNT_BAD_NA = 4,    /* neighbour advertisement for a target not allowed */
  AS_COUNT_OTHER = 5,     /* other ethertype, in drop mode */
  AS_COUNT_PASSED = 6,
  AS_COUNT_MAX = 7
};
