#!/usr/bin/env python3
"""vnetd's l2tpv3 netdev against QEMU 7.2's, on the wire (issue 6):

    test T --udp--> QEMU q1 -hub- q0 ==l2tpv3== vnetd l0 -hub- s1 --udp--> test T2

and back, for UDP and IP (protocol 115) encapsulation, with 32- and 64-bit
cookies, the counter, an offset, and over IPv6. Frames of 60 and 1514 bytes
must arrive byte for byte. vnetd's headers are compared with QEMU's for the
same options (the offset bytes aside: QEMU sends what its buffer held, vnetd
zeros), and datagrams with a wrong session or cookie are dropped and counted.
All on loopback in a network namespace of the test's own. Needs root and
qemu-system-x86."""
import os
import socket
import struct
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from wire import WireTestCase, frame, qemu_option, udp_socket  # noqa: E402
from qemu_announce import running_qemu  # noqa: E402

T, Q1, S1, T2 = 47501, 47502, 47505, 47506
QEMU_L2TP, VNETD_L2TP = 47510, 47511  # UDP encapsulation ports
LOCAL = "127.0.0.1"


class L2tpv3AgainstQemu(WireTestCase):
    work_prefix = "vnt-l2tp-"

    def setUp(self):
        super().setUp()
        self.t = udp_socket(self, T)
        self.t2 = udp_socket(self, T2)

    def pair(self, common, qemu_side, vnetd_side):
        """QEMU's q0 and vnetd's l0 facing each other, each on a hub with a
        udp socket netdev to the test."""
        q0 = {"type": "l2tpv3", "id": "q0", **common, **qemu_side}
        argv = [self.qemu, "-M", "none", "-nodefaults", "-display", "none",
                "-netdev", qemu_option(q0), "-netdev", "hubport,id=qh0,hubid=0,netdev=q0",
                "-netdev", f"socket,id=q1,udp={LOCAL}:{T},localaddr={LOCAL}:{Q1}",
                "-netdev", "hubport,id=qh1,hubid=0,netdev=q1"]
        self.stack.enter_context(running_qemu(argv, self.work))
        for netdev in ({"type": "l2tpv3", "id": "l0", **common, **vnetd_side},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "l0"},
                       {"type": "socket", "id": "s1", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:{S1}"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}):
            self.vnetd.cmd("netdev_add", **netdev)

    def details(self):
        return {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs")}["l0"]

    def exchange(self, label):
        for size in (60, 1514):
            out = frame(size, f"qemu->vnetd {size} {label}")
            self.t.sendto(out, (LOCAL, Q1))
            self.assertEqual(self.t2.recvfrom(70000), (out, (LOCAL, S1)), f"{label}: QEMU -> vnetd, {size} bytes")
            back = frame(size, f"vnetd->qemu {size} {label}")
            self.t2.sendto(back, (LOCAL, S1))
            self.assertEqual(self.t.recvfrom(70000), (back, (LOCAL, Q1)), f"{label}: vnetd -> QEMU, {size} bytes")
        details = self.details()
        self.assertEqual((details["frames-in"], details["frames-out"]), (2, 2), details)

    def test_udp_with_32_bit_cookies_counter_and_offset(self):
        common = {"src": LOCAL, "dst": LOCAL, "udp": True, "counter": True, "offset": 2}
        self.pair(common,
                  {"srcport": str(QEMU_L2TP), "dstport": str(VNETD_L2TP), "txsession": 0x11, "rxsession": 0x22,
                   "txcookie": 0xAABBCCDD, "rxcookie": 0x01020304},
                  {"srcport": str(VNETD_L2TP), "dstport": str(QEMU_L2TP), "txsession": 0x22, "rxsession": 0x11,
                   "txcookie": 0x01020304, "rxcookie": 0xAABBCCDD})
        self.exchange("udp, 32-bit cookies, counter, offset 2")
        self.assertEqual((self.details()["cookie-bits"], self.details()["header-size"]), (32, 4 + 4 + 4 + 4 + 2))

    def test_udp_with_64_bit_cookies(self):
        common = {"src": LOCAL, "dst": LOCAL, "udp": True, "cookie64": True}
        self.pair(common,
                  {"srcport": str(QEMU_L2TP), "dstport": str(VNETD_L2TP), "txsession": 7, "rxsession": 8,
                   "txcookie": 0x1122334455667788, "rxcookie": 0x0102030405060708},
                  {"srcport": str(VNETD_L2TP), "dstport": str(QEMU_L2TP), "txsession": 8, "rxsession": 7,
                   "txcookie": 0x0102030405060708, "rxcookie": 0x1122334455667788})
        self.exchange("udp, 64-bit cookies")
        # Wrong cookie, then wrong session, straight at vnetd's port: dropped and counted.
        raw = udp_socket(self, 47520)
        good = struct.pack(">IIQ", 0x00030000, 7, 0x1122334455667788) + frame(60, "good")
        bad_cookie = struct.pack(">IIQ", 0x00030000, 7, 0x1122334455667789) + frame(60, "bad cookie")
        bad_session = struct.pack(">IIQ", 0x00030000, 9, 0x1122334455667788) + frame(60, "bad session")
        for datagram in (bad_cookie, bad_session, good[:16]):
            raw.sendto(datagram, (LOCAL, VNETD_L2TP))
        raw.sendto(good, (LOCAL, VNETD_L2TP))
        self.assertEqual(self.t2.recvfrom(70000)[0], good[16:], "the good one after the bad ones")
        details = self.details()
        self.assertEqual((details["drops-cookie"], details["drops-session"], details["drops-short"]), (1, 1, 1))

    def test_ip_encapsulation_with_and_without_cookies(self):
        # Raw sockets on distinct loopback addresses, so that each side gets
        # only the other's packets (every proto-115 socket bound to an
        # address gets every packet to it).
        qemu_ip, vnetd_ip = "127.0.0.3", "127.0.0.2"
        self.pair({},
                  {"src": qemu_ip, "dst": vnetd_ip, "txsession": 0x101, "rxsession": 0x202,
                   "txcookie": 0xCAFE, "rxcookie": 0xBEEF},
                  {"src": vnetd_ip, "dst": qemu_ip, "txsession": 0x202, "rxsession": 0x101,
                   "txcookie": 0xBEEF, "rxcookie": 0xCAFE})
        self.exchange("ip encapsulation, 32-bit cookies")
        self.assertEqual(self.details()["encapsulation"], "ip")

    def test_ip_encapsulation_plain(self):
        qemu_ip, vnetd_ip = "127.0.0.3", "127.0.0.2"
        self.pair({}, {"src": qemu_ip, "dst": vnetd_ip, "txsession": 5, "rxsession": 6},
                  {"src": vnetd_ip, "dst": qemu_ip, "txsession": 6, "rxsession": 5})
        self.exchange("ip encapsulation")

    def test_udp_over_ipv6(self):
        subprocess_run(["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=0"])
        common = {"src": "::1", "dst": "::1", "udp": True, "ipv6": True}
        self.pair(common,
                  {"srcport": str(QEMU_L2TP), "dstport": str(VNETD_L2TP), "txsession": 1, "rxsession": 2},
                  {"srcport": str(VNETD_L2TP), "dstport": str(QEMU_L2TP), "txsession": 2, "rxsession": 1})
        self.exchange("udp over IPv6")

    def test_headers_equal_to_qemus(self):
        """Both send to test sockets with the same options: the headers must
        be QEMU's, byte for byte, up to the offset bytes (zero in vnetd's)."""
        options = {"src": LOCAL, "dst": LOCAL, "udp": True, "txsession": 0x11223344, "rxsession": 0x55667788,
                   "cookie64": True, "txcookie": 0x1122334455667788, "rxcookie": 0x0102030405060708,
                   "counter": True, "offset": 2}
        qemu_sink, vnetd_sink = udp_socket(self, 47530), udp_socket(self, 47531)
        self.pair(options, {"srcport": "47532", "dstport": "47530"}, {"srcport": "47533", "dstport": "47531"})
        out = frame(60, "to both")
        # T -> QEMU q1 -> hub -> q0 -> qemu_sink; T2 -> vnetd s1 -> hub -> l0 -> vnetd_sink.
        for _ in range(2):
            self.t.sendto(out, (LOCAL, Q1))
            self.t2.sendto(out, (LOCAL, S1))
            theirs, ours = qemu_sink.recv(70000), vnetd_sink.recv(70000)
            header = 4 + 4 + 8 + 4
            self.assertEqual(ours[:header], theirs[:header], "header before the offset")
            self.assertEqual(ours[header:header + 2], b"\0\0", "offset bytes zeroed")
            self.assertEqual((ours[header + 2:], theirs[header + 2:]), (out, out))

    def test_query_netdevs_says_which_path_and_why(self):
        """In the kernel where it has l2tp_eth (the lab proves that path), in
        vnetd otherwise, saying why; offload=on fails instead, changing nothing."""
        import glob
        release = os.uname().release
        kernel_has_l2tp = os.path.exists("/sys/module/l2tp_netlink") or bool(
            glob.glob(f"/lib/modules/{release}/**/l2tp_netlink.ko*", recursive=True))
        base = {"type": "l2tpv3", "src": LOCAL, "dst": LOCAL, "udp": True, "txsession": 5, "rxsession": 6}
        self.vnetd.cmd("netdev_add", id="auto", srcport="47540", dstport="47541", **base)
        self.vnetd.cmd("netdev_add", id="off", srcport="47542", dstport="47543", offload=False, **base)
        self.vnetd.cmd("netdev_add", id="offset", srcport="47544", dstport="47545", offset=4, **base)
        details = {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs")}
        if kernel_has_l2tp:
            self.assertEqual(details["auto"]["path"], "kernel", details["auto"])
        else:
            self.assertEqual(details["auto"]["path"], "userspace", details["auto"])
            self.assertIn('"l2tp" not found', details["auto"]["userspace-reason"])
        self.assertEqual((details["off"]["path"], details["off"]["userspace-reason"]), ("userspace", "offload=off"))
        self.assertEqual(details["offset"]["path"], "userspace")
        self.assertIn("offset=4", details["offset"]["userspace-reason"])
        with self.assertRaises(Exception) as refused:
            self.vnetd.cmd("netdev_add", id="forced", srcport="47546", dstport="47547", offset=4, offload=True, **base)
        self.assertIn("offload=on", str(refused.exception))
        self.assertNotIn("forced", [n["id"] for n in self.vnetd.cmd("query-netdevs")])


def subprocess_run(argv):
    import subprocess
    subprocess.run(argv, check=True, capture_output=True)


if __name__ == "__main__":
    unittest.main()
