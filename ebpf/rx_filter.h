/* rx_filter.h - the maps' layout, shared by rx_filter.bpf.c and its C++
 * loader. Fixed-width types only. Bump RX_FILTER_LAYOUT_VERSION when the
 * layout changes: pinned maps of another version are not re-adopted. */
#pragma once

#include <linux/types.h>

#define RX_FILTER_LAYOUT_VERSION 1
#define RX_FILTER_MAX_MACS 64  /* virtio-net's MAC_TABLE_ENTRIES */
#define RX_FILTER_MAX_VLAN 4096
#define RX_FILTER_SLOTS 2      /* config is double-buffered: write one, then flip */

enum rx_filter_mode { RX_MODE_NORMAL = 0, RX_MODE_NONE = 1, RX_MODE_ALL = 2 };

struct rx_filter_config {
  __u8 promiscuous;
  __u8 broadcast_allowed;
  __u8 unicast_mode;   /* enum rx_filter_mode */
  __u8 multicast_mode;
  __u8 vlan_mode;
  __u8 unicast_overflow;
  __u8 multicast_overflow;
  __u8 layout_version;
  __u8 main_mac[6];
  __u8 pad[2];
  __u32 vlans[RX_FILTER_MAX_VLAN / 32]; /* bit set: frames tagged with this id pass */
};

/* Key of the MAC table: a MAC and the config slot it belongs to, so that a
 * new table is written beside the old one and takes effect with the flip. */
struct rx_filter_mac_key {
  __u8 mac[6];
  __u8 slot;
  __u8 pad;
};

enum rx_filter_counter { RX_COUNT_PASSED = 0, RX_COUNT_DROPPED = 1, RX_COUNT_MAX = 2 };
