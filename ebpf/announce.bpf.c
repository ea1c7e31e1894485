// announce.bpf.c - the XDP program vnetd runs through BPF_PROG_TEST_RUN with
// BPF_F_TEST_XDP_LIVE_FRAMES to put announce frames (RARP, GARP, NA) into the
// network as if the guest had sent them: XDP_PASS on the tap's ingress makes
// the kernel receive the frame on that tap, so a bridge forwards it and
// learns the NIC's MAC on that port. The frame is built in userspace; the
// program only lets it through.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int announce_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
