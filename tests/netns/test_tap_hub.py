#!/usr/bin/env python3
"""A tap on a hub: vnetd carries the tap's frames itself (reads kept posted on
every queue, writes into queue 0) when the tap's peer is a hub port rather than
a guest NIC, so a namespace's tap reaches any userspace netdev:

    AF_PACKET on vt0 -> tap t0 -hub- socket s1 --udp--> test socket
    test socket --udp--> socket s1 -hub- tap t0 -> received on vt0

Each test in its own network namespace; frames read back from the kernel."""
import os
import socket
import time
import unittest

from netns_harness import NamespaceTestCase  # noqa: E402

PROBE = 0x88B5
T2, S1 = 47401, 47402
LOCAL = "127.0.0.1"


def frame(size, tag):
    head = bytes.fromhex("020000000001" "020000000002") + PROBE.to_bytes(2, "big") + tag.encode()
    return head + bytes((i * 5 + len(tag)) % 256 for i in range(size - len(head)))


class TapOnAHub(NamespaceTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()

    def details(self, netdev):
        return {n["id"]: n["details"] for n in self.client.cmd("query-netdevs")}[netdev]

    def build(self, queues):
        for netdev in ({"type": "tap", "id": "t0", "ifname": "vt0", "queues": queues},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "t0"},
                       {"type": "socket", "id": "s1", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:{S1}"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}):
            self.client.cmd("netdev_add", **netdev)
        self.sh("ip link set vt0 up")
        with self.in_namespace():
            self.packet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(PROBE))
            self.packet.bind(("vt0", PROBE))
            self.packet.settimeout(3)
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((LOCAL, T2))
            self.udp.settimeout(3)
        self.addCleanup(self.packet.close)
        self.addCleanup(self.udp.close)

    def frames_both_ways(self, count, sizes=(60, 1514)):
        for i in range(count):
            for size in sizes:
                out = frame(size, f"tap->udp {i} {size}")
                self.packet.send(out)
                data, source = self.udp.recvfrom(70000)
                self.assertEqual((data, source), (out, (LOCAL, S1)))
                back = frame(size, f"udp->tap {i} {size}")
                self.udp.sendto(back, (LOCAL, S1))
                while True:  # the socket also sees what we sent out of vt0
                    data, address = self.packet.recvfrom(70000)
                    if address[2] == socket.PACKET_HOST or data == back:
                        break
                self.assertEqual(data, back)

    def test_frames_cross_both_ways(self):
        self.build(queues=1)
        self.frames_both_ways(5)
        t0 = self.details("t0")
        self.assertEqual(t0["carried-by"], "vnetd")
        self.assertEqual((t0["frames-in"], t0["frames-out"]), (10, 10))
        self.assertEqual(t0["bytes-in"], 5 * (60 + 1514))

    def test_every_queue_is_read(self):
        self.build(queues=4)
        # The kernel spreads flows over the queues by hash: many flows, all read.
        for i in range(64):
            out = bytearray(frame(60, f"flow {i}"))
            out[6:12] = bytes([2, 0, 0, 0, i, 1])  # a source MAC per flow
            self.packet.send(bytes(out))
            self.assertEqual(self.udp.recvfrom(70000)[0], bytes(out))
        self.assertEqual(self.details("t0")["frames-in"], 64)

    def test_unpeered_then_peered_with_a_nic_the_vmm_carries_it(self):
        self.build(queues=1)
        self.client.cmd("netdev_del", id="h0")
        self.assertEqual(self.details("t0")["carried-by"], "vmm")
        self.udp.sendto(frame(60, "nowhere"), (LOCAL, S1))
        self.client.cmd("netdev_add", type="nic", id="n0", netdev="t0")
        self.assertEqual(self.details("t0")["carried-by"], "vmm")
        # With vnetd no longer reading, a VMM's fd gets the tap's frames.
        self.client.cmd("netdev-get-fds", id="t0")
        (fd,) = self.client.take_received_fds()
        self.addCleanup(os.close, fd)
        out = frame(60, "to the vmm")
        self.packet.send(out)
        deadline = time.monotonic() + 3
        while True:
            try:
                data = os.read(fd, 70000)
                break
            except BlockingIOError:
                self.assertLess(time.monotonic(), deadline, "the VMM's fd got nothing")
                time.sleep(0.01)
        self.assertTrue(data.endswith(out))


if __name__ == "__main__":
    unittest.main()
