/* host_sink.bpf.c - on the tc ingress of a NIC's own tap on a hub: every
 * frame the guest sends is dropped there, after vnetd's packet socket has
 * taken it for the hub (packet sockets see a received frame before tc), so
 * the guest reaches the hub and never the host's own stack. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int host_sink(struct __sk_buff *skb) {
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
