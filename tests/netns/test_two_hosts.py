#!/usr/bin/env python3
"""Two hosts, one layer 2 (issue 19): two network namespaces stand in for two
hosts, a veth pair between them for the underlay, a vnetd in each:

    test as VMM 1: fd of n1's tap            test as VMM 2: fd of n2's tap
        |                                        |
      nic n1 - hubport g1 -hub 0- hubport p1   nic n2 - hubport g2 -hub 0- hubport p2
                                  |                                         |
                          l2tpv3 l1 (10.99.0.1:17011) ==UDP over veth== l2tpv3 l2 (10.99.0.2:17012)
        host 1 (namespace, vnetd)                host 2 (namespace, vnetd)

What one guest's VMM writes into its tap fd (behind a virtio-net header) must
be read from the other guest's tap fd byte for byte, both ways: small frames,
1514-byte frames (a 1500-byte payload) and VLAN-tagged 1518-byte ones. Each
guest's rx filter holds on what arrives from the other host, and anti-spoofing
on what a guest sends to it. A `tap` netdev in a pod's namespace on each hub
(what vnetctl-cni makes) carries the pods' own IP traffic. The underlay's MTU
has room for the L2TPv3/UDP/IP overhead (docs/multi-host.md). Where the host
has no L2TP in its kernel (the CI hosts), both l2tpv3 netdevs run on vnetd's
userspace path; with it, the kernel carries them; the test holds for both."""
import os
import select
import socket
import struct
import time
import unittest

from netns_harness import NamespaceTestCase, run, setns  # noqa: E402
from vnetd_harness import QmpClient, Vnetd, watch_stderr_log  # noqa: E402

VNET_HDR = bytes(10)
PROBE = 0x88B5
OTHER = bytes.fromhex("525400777777")
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2  # <linux/in.h>; Python's socket module lacks them
UNDERLAY_MTU = 1600  # a tagged 1518-byte frame + 20 (IPv4) + 8 (UDP) + 12 (L2TPv3 with a 32-bit cookie) = 1558


class Host:
    """One host: its namespace, underlay address, vnetd (QMP client) and guest."""

    def __init__(self, index, ns, client):
        self.index = index
        self.ns = ns
        self.client = client
        self.address = f"10.99.0.{index}"
        self.mac = bytes.fromhex(f"5254000a000{index}")
        self.mac_text = ":".join(f"{b:02x}" for b in self.mac)
        self.vmm = None  # the guest tap's queue fd, as its VMM holds it

    def details(self, netdev):
        return {n["id"]: n["details"] for n in self.client.cmd("query-netdevs")}[netdev]


def l2tpv3_options(this, peer):
    """The l2tpv3 netdev of host `this` towards host `peer`: its ports,
    sessions and cookies mirror the peer's (what one sends, the other expects)."""
    return {"type": "l2tpv3", "id": f"l{this.index}", "udp": True,
            "src": this.address, "dst": peer.address,
            "srcport": str(17010 + this.index), "dstport": str(17010 + peer.index),
            "txsession": 0x100 + this.index, "rxsession": 0x100 + peer.index,
            "txcookie": 0xC0FFEE00 + this.index, "rxcookie": 0xC0FFEE00 + peer.index}


def frame(dst, src, tag, size, vlan=None):
    """A frame of `size` bytes in all, tag included, its payload marked by tag."""
    head = dst + src + (struct.pack("!HH", 0x8100, vlan) if vlan is not None else b"") + struct.pack("!H", PROBE)
    head += tag.encode()
    return head + bytes((i * 7 + len(tag)) % 256 for i in range(size - len(head)))


def ipv4_frame(dst_mac, src_mac, src_ip, dst_ip, tag):
    """An IPv4/UDP frame (checksums left zero: nothing on the path checks them)."""
    payload = tag.encode()
    udp = struct.pack("!HHHH", 40000, 5001, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0, src_ip, dst_ip)
    return dst_mac + src_mac + struct.pack("!H", 0x0800) + ip + udp


class TwoHosts(NamespaceTestCase):

    def setUp(self):
        super().setUp()  # host 1's namespace, self.ns, and the test's work dir
        ns2 = f"{self.ns}-h2"  # vnt-PID-...: a killed run's is removed by the next (remove_stale_namespaces)
        run("ip", "netns", "add", ns2)
        self.addCleanup(run, "ip", "netns", "del", ns2, check=False)
        run("ip", "netns", "exec", ns2, "sh", "-c", "sysctl -qw net.ipv6.conf.all.disable_ipv6=1"
            " net.ipv6.conf.default.disable_ipv6=1; ip link set lo up")
        # The underlay: one veth pair, one end in each host.
        run("ip", "-n", self.ns, "link", "add", "ul1", "mtu", str(UNDERLAY_MTU), "type", "veth",
            "peer", "name", "ul2", "mtu", str(UNDERLAY_MTU), "netns", ns2)
        for ns, ifname, index in ((self.ns, "ul1", 1), (ns2, "ul2", 2)):
            run("ip", "-n", ns, "addr", "add", f"10.99.0.{index}/24", "dev", ifname)
            run("ip", "-n", ns, "link", "set", ifname, "up")
        self.start_daemon()  # host 1's vnetd, in self.ns
        self.h1 = Host(1, self.ns, self.client)
        self.h2 = Host(2, ns2, self.start_second_daemon(ns2))
        self.build(self.h1, self.h2)
        self.build(self.h2, self.h1)

    def start_second_daemon(self, ns):
        """Host 2's vnetd, with its own socket and state dir, stopped (SIGTERM,
        status 0) before its namespace is deleted."""
        daemon = Vnetd(os.path.join(self.work, "h2"), own_netns=ns)
        os.mkdir(daemon.workdir)
        watch_stderr_log(self, daemon.log_path)
        self.addCleanup(daemon.kill)
        self.addCleanup(lambda: self.assertEqual(daemon.stop(), 0, f"host 2's vnetd: {daemon.describe_exit()}"))
        daemon.start()
        client = QmpClient(daemon.socket_path)
        self.addCleanup(client.close)
        return client

    def build(self, host, peer):
        """hub 0 on `host`: the guest's nic (a tap of its own for the VMM) and
        the l2tpv3 netdev towards `peer`."""
        for netdev in ({"type": "hubport", "id": f"g{host.index}", "hubid": 0},
                       {"type": "nic", "id": f"n{host.index}", "netdev": f"g{host.index}",
                        "macaddr": host.mac_text, "ifname": f"guest{host.index}"},
                       l2tpv3_options(host, peer),
                       {"type": "hubport", "id": f"p{host.index}", "hubid": 0, "netdev": f"l{host.index}"}):
            host.client.cmd("netdev_add", **netdev)
        fds = host.client.cmd("netdev-get-fds", id=f"n{host.index}")["fds"]
        received = host.client.take_received_fds()
        for fd in received:
            self.addCleanup(os.close, fd)
        self.assertEqual(fds, [{"role": "tap", "queue": 0}])
        host.vmm = received[0]

    # -- the test as both guests' VMMs
    def send(self, host, data):
        os.write(host.vmm, VNET_HDR + data)

    def read(self, host, timeout=3.0):
        """The next frame host's guest gets, without its virtio-net header; None if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([host.vmm], [], [], left)[0]:
                return None
            try:
                return os.read(host.vmm, 70000)[len(VNET_HDR):]
            except BlockingIOError:
                continue

    def crosses(self, sender, receiver, data, label):
        self.send(sender, data)
        got = self.read(receiver)
        self.assertIsNotNone(got, f"{label}: nothing reached guest {receiver.index} "
                                  f"(l{sender.index}: {sender.details(f'l{sender.index}')})")
        self.assertEqual(got.hex(), data.hex(), label)

    def nothing_more(self, host, wait=0.5):
        self.assertIsNone(self.read(host, wait), f"guest {host.index} got a frame it should not have")

    # -- the tests
    def test_frames_cross_both_ways_byte_for_byte(self):
        for host in (self.h1, self.h2):
            l2tp = host.details(f"l{host.index}")
            self.assertIn(l2tp["path"], ("kernel", "userspace"), l2tp)
            if l2tp["path"] == "userspace":  # no L2TP in this kernel (or it refused): vnetd carries it
                self.assertIn("userspace-reason", l2tp)
            self.assertTrue(host.details(f"n{host.index}")["guest-tap"])
        pairs = ((self.h1, self.h2), (self.h2, self.h1))
        for sender, receiver in pairs:
            for size, vlan in ((60, None), (64, 5), (1514, None), (1518, 100), (1518, 4094)):
                label = f"guest {sender.index} -> guest {receiver.index}, {size} bytes, vlan {vlan}"
                self.crosses(sender, receiver, frame(receiver.mac, sender.mac, label, size, vlan), label)
        # A burst each way: every frame, in order, none twice. Its full-sized
        # half leaves in UDP GSO runs where vnetd carries the tunnel.
        for sender, receiver in pairs:
            sent = [frame(receiver.mac, sender.mac, f"burst {sender.index} #{i}",
                          1514 if i < 32 else 60 + (i * 97) % 1455) for i in range(64)]
            for data in sent:
                self.send(sender, data)
            got = []
            while len(got) < len(sent) and (data := self.read(receiver)) is not None:
                got.append(data)
            self.assertEqual([g.hex() for g in got], [s.hex() for s in sent], f"the burst from guest {sender.index}")
        for host in (self.h1, self.h2):
            self.nothing_more(host, 0.3)
            l2tp = host.details(f"l{host.index}")
            if l2tp["path"] == "userspace":
                self.assertEqual((l2tp["frames-out"], l2tp["frames-in"]), (5 + 64, 5 + 64), l2tp)
                self.assertEqual((l2tp["drops-cookie"], l2tp["drops-session"]), (0, 0), l2tp)

    def test_full_sized_frames_cross_an_underlay_without_headroom(self):
        # MTU 1500 on the underlay: a run of 1514-byte frames is one UDP GSO
        # send that Linux refuses (EMSGSIZE); vnetd must send them one by one,
        # fragmented, not drop them.
        run("ip", "-n", self.ns, "link", "set", "ul1", "mtu", "1500")
        sent = [frame(self.h2.mac, self.h1.mac, f"no headroom #{i}", 1514) for i in range(32)]
        for data in sent:
            self.send(self.h1, data)
        got = []
        while len(got) < len(sent) and (data := self.read(self.h2)) is not None:
            got.append(data)
        self.assertEqual([g.hex() for g in got], [s.hex() for s in sent])

    def test_each_guests_rx_filter_holds_on_frames_from_the_other_host(self):
        for sender, receiver in ((self.h1, self.h2), (self.h2, self.h1)):
            nic = f"n{receiver.index}"
            receiver.client.cmd("set-rx-filter", name=nic, **{
                "promiscuous": False, "unicast": "normal", "multicast": "normal", "vlan": "normal",
                "broadcast-allowed": True, "unicast-overflow": False, "multicast-overflow": False,
                "main-mac": receiver.mac_text, "vlan-table": [], "unicast-table": [], "multicast-table": []})
            before = receiver.details(nic)["rx-filter-dropped"]
            stray = frame(OTHER, sender.mac, f"to a MAC guest {receiver.index} does not take", 100)
            self.send(sender, stray)
            mine = frame(receiver.mac, sender.mac, f"to guest {receiver.index}'s own MAC", 100)
            self.crosses(sender, receiver, mine, f"guest {sender.index} -> guest {receiver.index}, its own MAC")
            self.nothing_more(receiver)
            self.assertEqual(receiver.details(nic)["rx-filter-dropped"], before + 1,
                             "the stray frame crossed the tunnel and was dropped by the receiving guest's filter")

    def test_anti_spoofing_holds_at_each_sending_end(self):
        for sender, receiver in ((self.h1, self.h2), (self.h2, self.h1)):
            nic = f"n{sender.index}"
            own_ip = bytes([10, 1, 0, sender.index])
            sender.client.cmd("set-anti-spoof", name=nic, enable=True, **{"allowed-ips": [f"10.1.0.{sender.index}/32"]})
            self.send(sender, ipv4_frame(receiver.mac, OTHER, own_ip, bytes([10, 1, 0, 9]), "forged source MAC"))
            self.send(sender, ipv4_frame(receiver.mac, sender.mac, bytes([10, 1, 0, 66]), bytes([10, 1, 0, 9]),
                                         "forged source IP"))
            legit = ipv4_frame(receiver.mac, sender.mac, own_ip, bytes([10, 1, 0, 9]), "legitimate")
            self.crosses(sender, receiver, legit, f"guest {sender.index}'s legitimate frame")
            self.nothing_more(receiver)
            details = sender.details(nic)
            self.assertEqual(details["spoof-drops"], 2, details)
            self.assertEqual((details["spoof-drops-by-reason"]["bad-mac"],
                              details["spoof-drops-by-reason"]["bad-ipv4"]), (1, 1), details)

    def udp_socket_in(self, ns, address):
        """A UDP socket of namespace ns's (it stays there), bound to address, DF set."""
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        theirs = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            setns(theirs)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        finally:
            setns(own)
            os.close(own)
            os.close(theirs)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        sock.bind(address)
        sock.settimeout(3)
        return sock

    def test_pods_taps_on_the_hubs_reach_each_other(self):
        """A `tap` netdev made in a pod's namespace, as vnetctl-cni makes one,
        joined to the hub: the two pods' own stacks talk over the tunnel, a
        1500-byte IP packet (DF) included."""
        for host in (self.h1, self.h2):
            host.pod = f"{host.ns}-pod"
            run("ip", "netns", "add", host.pod)
            self.addCleanup(run, "ip", "netns", "del", host.pod, check=False)
            run("ip", "netns", "exec", host.pod, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1")
            host.client.cmd("netdev_add", type="tap", id=f"pod{host.index}", ifname="net1",
                            netns=f"/run/netns/{host.pod}")
            self.addCleanup(host.client.execute, "netdev_del", {"id": f"pod{host.index}"})
            host.client.cmd("netdev_add", type="hubport", id=f"q{host.index}", hubid=0, netdev=f"pod{host.index}")
            run("ip", "-n", host.pod, "addr", "add", f"192.168.50.{host.index}/24", "dev", "net1")
            run("ip", "-n", host.pod, "link", "set", "net1", "up")
        one = self.udp_socket_in(self.h1.pod, ("192.168.50.1", 5001))
        two = self.udp_socket_in(self.h2.pod, ("192.168.50.2", 5002))

        def received(sock, label):
            try:
                return sock.recvfrom(9000)
            except socket.timeout:
                self.fail(f"{label}: nothing arrived")

        for size in (10, 1472):  # 1472 + 8 + 20: the tap's MTU, 1500
            data = bytes(i % 253 for i in range(size))
            one.sendto(data, ("192.168.50.2", 5002))
            label = f"pod 1 -> pod 2, {size} bytes"
            self.assertEqual(received(two, label), (data, ("192.168.50.1", 5001)), label)
            two.sendto(data[::-1], ("192.168.50.1", 5001))
            label = f"pod 2 -> pod 1, {size} bytes"
            self.assertEqual(received(one, label), (data[::-1], ("192.168.50.2", 5002)), label)
        self.assertEqual(self.h1.details("pod1")["carried-by"], "vnetd")


if __name__ == "__main__":
    unittest.main()
