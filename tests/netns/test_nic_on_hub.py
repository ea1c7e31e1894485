#!/usr/bin/env python3
"""A nic on a hub gets a tap of its own for its VMM (issue 18), in a namespace:

    test as VMM: fd of gt0 (netdev-get-fds n0) = tap gt0 (n0's own)
        -- host side: vnetd's packet socket -- h0 -hub 0- h1 -- socket s1 --udp--> test socket

What the "guest" writes into the tap fd (behind a virtio-net header) must come
out of the socket netdev whole, and what the socket netdev receives must be
read from the tap fd; the nic's rx filter and anti-spoofing hold on that path,
VLAN tags survive it, a TSO frame is cut into segments, and deleting the nic
removes its tap. Each test in its own network namespace."""
import fcntl
import os
import select
import socket
import struct
import time
import unittest

from netns_harness import NamespaceTestCase  # noqa: E402

MAC = bytes.fromhex("525400123499")
OTHER = bytes.fromhex("525400777777")
PEER_MAC = bytes.fromhex("020000000002")
PROBE = 0x88B5
T2, S1 = 47411, 47412
LOCAL = "127.0.0.1"
VNET_HDR = bytes(10)
TUNSETOFFLOAD = 0x400454D0
TUN_F_CSUM, TUN_F_TSO4 = 0x01, 0x02


def frame(dst, src, tag, size=80, ethertype=PROBE):
    head = dst + src + struct.pack("!H", ethertype) + tag.encode()
    return head + bytes((i * 7 + len(tag)) % 256 for i in range(size - len(head)))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_frame(payload, src_ip=bytes([10, 0, 0, 5]), dst_ip=bytes([10, 0, 0, 1])):
    """One IPv4/TCP frame, its TCP checksum left partial (the pseudo-header
    sum only), as a guest with checksum offload hands it over."""
    tcp = struct.pack("!HHIIBBHHH", 40000, 5001, 1000, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp))
    partial = (~checksum(pseudo)) & 0xFFFF
    tcp = tcp[:16] + struct.pack("!H", partial) + tcp[18:]
    return PEER_MAC + MAC + struct.pack("!H", 0x0800) + ip + tcp


class NicOnAHub(NamespaceTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()

    def details(self, netdev):
        return {n["id"]: n["details"] for n in self.client.cmd("query-netdevs")}[netdev]

    def build(self, **nic_options):
        for netdev in ({"type": "hubport", "id": "h0", "hubid": 0},
                       {"type": "nic", "id": "n0", "netdev": "h0", "macaddr": "52:54:00:12:34:99",
                        "ifname": "gt0", **nic_options},
                       {"type": "socket", "id": "s1", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:{S1}"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}):
            self.client.cmd("netdev_add", **netdev)
        fds = self.client.cmd("netdev-get-fds", id="n0")["fds"]
        self.fds = self.client.take_received_fds()
        for fd in self.fds:
            self.addCleanup(os.close, fd)
        self.assertEqual(fds[0], {"role": "tap", "queue": 0})
        self.vmm = self.fds[0]
        with self.in_namespace():
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((LOCAL, T2))
            self.udp.settimeout(3)
        self.addCleanup(self.udp.close)

    def guest_sends(self, data, header=VNET_HDR):
        os.write(self.vmm, header + data)

    def guest_reads(self, timeout=3.0):
        """The next frame the VMM reads, without its virtio-net header; None if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.vmm], [], [], left)[0]:
                return None
            try:
                return os.read(self.vmm, 70000)[len(VNET_HDR):]
            except BlockingIOError:
                continue

    def hub_receives(self, timeout=3.0):
        self.udp.settimeout(timeout)
        try:
            return self.udp.recvfrom(70000)[0]
        except socket.timeout:
            return None

    def test_the_guest_reaches_the_hub_and_the_hub_the_guest(self):
        self.build()
        n0 = self.details("n0")
        self.assertTrue(n0["guest-tap"])
        self.assertEqual((n0["ifname"], n0["rx-filter-enforced"]), ("gt0", True))
        self.assertIn("gt0", self.sh("ip -o link show up"), "vnetd brings the NIC's tap up")
        for i, size in enumerate((60, 1514)):
            out = frame(PEER_MAC, MAC, f"guest->hub {i}", size)
            self.guest_sends(out)
            self.assertEqual(self.hub_receives(), out)
            back = frame(MAC, PEER_MAC, f"hub->guest {i}", size)
            self.udp.sendto(back, (LOCAL, S1))
            self.assertEqual(self.guest_reads(), back)
        host_side = self.details("n0")["host-side"]
        self.assertEqual((host_side["frames-from-guest"], host_side["frames-to-guest"]), (2, 2))

    def test_the_rx_filter_holds_on_frames_from_the_hub(self):
        self.build()
        self.client.cmd("set-rx-filter", name="n0", **{"unicast": "normal", "multicast": "normal",
                                                         "broadcast-allowed": True, "promiscuous": False,
                                                         "vlan": "normal", "unicast-overflow": False,
                                                         "multicast-overflow": False, "main-mac": "52:54:00:12:34:99",
                                                         "vlan-table": [], "unicast-table": [],
                                                         "multicast-table": []})
        before = self.details("n0")["rx-filter-dropped"]
        self.udp.sendto(frame(OTHER, PEER_MAC, "not for this guest"), (LOCAL, S1))
        mine = frame(MAC, PEER_MAC, "for this guest")
        self.udp.sendto(mine, (LOCAL, S1))
        self.assertEqual(self.guest_reads(), mine, "the frame for another MAC must not reach the guest")
        self.assertEqual(self.details("n0")["rx-filter-dropped"], before + 1)

    def test_anti_spoofing_holds_on_frames_to_the_hub(self):
        self.build(**{"anti-spoof": True, "allowed-ips": ["10.0.0.5/32"]})
        n0 = self.details("n0")
        self.assertEqual(n0["anti-spoof-hook"], "xdp-generic")
        self.guest_sends(frame(PEER_MAC, OTHER, "spoofed source MAC"))
        spoofed_ip = tcp_frame(b"x" * 20, src_ip=bytes([10, 0, 0, 9]))
        self.guest_sends(spoofed_ip)
        legit = tcp_frame(b"y" * 20)
        legit = legit[:50] + struct.pack("!H", 0) + legit[52:]  # a checksum need not be right to pass
        self.guest_sends(legit)
        self.assertEqual(self.hub_receives(), legit, "only the legitimate frame reaches the hub")
        self.assertIsNone(self.hub_receives(timeout=0.5))
        reasons = self.details("n0")["spoof-drops-by-reason"]
        self.assertEqual((reasons["bad-mac"], reasons["bad-ipv4"]), (1, 1))

    def test_the_guest_reaches_the_hub_and_not_the_hosts_own_stack(self):
        self.build()
        self.sh("ip addr add 10.0.0.1/32 dev lo")
        # Who has 10.0.0.1? The host's stack would answer (arp_ignore=0) if it saw the request.
        request = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC + bytes([10, 0, 0, 5]) + bytes(6) + bytes([10, 0, 0, 1])
        who_has = b"\xff" * 6 + MAC + struct.pack("!H", 0x0806) + request + bytes(18)
        self.guest_sends(who_has)
        self.assertEqual(self.hub_receives(), who_has, "the hub gets the guest's broadcast")
        self.assertIsNone(self.guest_reads(timeout=1.0), "the host's stack answered the guest")

    def test_slirp_answers_the_guest_through_the_hub(self):
        # A user netdev's frames are slirp's copies, kept until the batch's
        # sends to the guest are done (they leave in one sendmmsg at its end).
        for netdev in ({"type": "user", "id": "u0"},
                       {"type": "hubport", "id": "hu", "hubid": 0, "netdev": "u0"},
                       {"type": "hubport", "id": "h0", "hubid": 0},
                       {"type": "nic", "id": "n0", "netdev": "h0", "macaddr": "52:54:00:12:34:99"}):
            self.client.cmd("netdev_add", **netdev)
        self.client.cmd("netdev-get-fds", id="n0")
        (self.vmm,) = self.client.take_received_fds()
        self.addCleanup(os.close, self.vmm)
        for i in range(20):
            request = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC + bytes([10, 0, 2, 15]) + bytes(6) + bytes([10, 0, 2, 2])
            self.guest_sends(b"\xff" * 6 + MAC + struct.pack("!H", 0x0806) + request + bytes(18))
            reply = self.guest_reads()
            self.assertIsNotNone(reply, f"no ARP reply {i}")
            self.assertEqual((reply[:6], reply[12:14]), (MAC, b"\x08\x06"), f"not an ARP frame to the guest: {reply.hex()}")
            self.assertEqual((reply[20:22], reply[28:32], reply[38:42]), (b"\x00\x02", bytes([10, 0, 2, 2]),
                                                                          bytes([10, 0, 2, 15])), reply.hex())

    def test_a_vlan_tag_survives_the_host_side(self):
        self.build()
        tagged = PEER_MAC + MAC + struct.pack("!HH", 0x8100, 0x2005) + struct.pack("!H", PROBE) + b"tagged" + bytes(50)
        self.guest_sends(tagged)
        self.assertEqual(self.hub_receives(), tagged)
        back = MAC + PEER_MAC + struct.pack("!HH", 0x8100, 0x2005) + struct.pack("!H", PROBE) + b"back" + bytes(50)
        self.udp.sendto(back, (LOCAL, S1))
        self.assertEqual(self.guest_reads(), back)

    def test_a_tso_frame_from_the_guest_reaches_the_hub_as_segments(self):
        self.build()
        fcntl.ioctl(self.vmm, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4)
        payload = bytes(i % 251 for i in range(4000))
        big = tcp_frame(payload)
        # NEEDS_CSUM from the TCP header (14 + 20) at offset 16; TCPv4 GSO of 1000 bytes.
        header = struct.pack("<BBHHHH", 1, 1, 54, 1000, 34, 16)
        self.guest_sends(big, header)
        got = b""
        for _ in range(4):
            segment = self.hub_receives()
            self.assertIsNotNone(segment, f"segments after {len(got)} bytes")
            self.assertEqual(len(segment), 54 + 1000)
            ip, tcp = segment[14:34], segment[34:]
            self.assertEqual(checksum(ip), 0, "the IPv4 header checksum")
            pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
            self.assertEqual(checksum(pseudo + tcp), 0, "the TCP checksum")
            got += tcp[20:]
        self.assertEqual(got, payload)
        self.assertEqual(self.details("n0")["host-side"]["frames-segmented"], 1)

    def test_bad_options_change_nothing(self):
        self.client.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        links = self.sh("ip -o link show")
        for options, text in (({"queues": 0}, "queues"), ({"vhost": True, "vnet_hdr": False}, "vhost")):
            reply = self.client.execute("netdev_add", {"type": "nic", "id": "n0", "netdev": "h0", **options})
            self.assertIn("error", reply)
            self.assertIn(text, reply["error"]["desc"])
        self.client.cmd("netdev_add", type="tap", id="t0", ifname="vt9")
        reply = self.client.execute("netdev_add", {"type": "nic", "id": "n1", "netdev": "t0", "ifname": "x0"})
        self.assertIn("for a nic whose netdev is a hubport", reply["error"]["desc"])
        self.client.cmd("netdev_del", id="t0")
        self.assertEqual(sorted(n["id"] for n in self.client.cmd("query-netdevs")), ["h0"])
        time.sleep(0.3)  # the deleted tap's teardown
        self.assertEqual(self.sh("ip -o link show").count("\n"), links.count("\n"))

    def test_deleting_the_nic_removes_its_tap_and_the_hub_port_stays(self):
        self.build()
        self.client.cmd("netdev_del", id="n0")
        deadline = time.monotonic() + 5
        while "gt0" in self.sh("ip -o link show"):
            self.assertLess(time.monotonic(), deadline, "gt0 is still there")
            time.sleep(0.05)
        self.assertIn("h0", [n["id"] for n in self.client.cmd("query-netdevs")])

    def test_a_hub_port_deleted_and_added_again_joins_the_same_tap(self):
        self.build()
        self.client.cmd("netdev_del", id="h0")
        self.assertNotIn("host-side", self.details("n0"))
        self.client.cmd("netdev_add", type="hubport", id="h0", hubid=0, netdev="n0")
        out = frame(PEER_MAC, MAC, "after re-peering")
        self.guest_sends(out)
        self.assertEqual(self.hub_receives(), out)


if __name__ == "__main__":
    unittest.main()
