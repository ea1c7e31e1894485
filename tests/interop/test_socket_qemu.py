#!/usr/bin/env python3
"""vnetd's socket netdev (udp=) against QEMU 7.2's, on the wire (issue 6):

    test T --udp--> QEMU q1 -hub- q0 --udp--> vnetd s0 -hub- s1 --udp--> test T2
    test T <--udp-- QEMU q1 -hub- q0 <--udp-- vnetd s0 -hub- s1 <--udp-- test T2

QEMU runs `-M none` with two udp socket netdevs joined by hubports; vnetd
has the same. Frames of 60, 1514 and 9000 bytes cross both ways and must
arrive byte for byte, one datagram per frame. Everything runs on loopback in
a network namespace of the test's own. Needs root and qemu-system-x86."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from vnetd_harness import start_vnetd  # noqa: E402
from wire import frame, udp_socket  # noqa: E402
from qemu_announce import find_qemu, private_netns, running_qemu  # noqa: E402

# Ports: T, QEMU q1 (local), QEMU q0 (local), vnetd s0 (local), vnetd s1 (local), T2.
T, Q1, Q0, S0, S1, T2 = 47101, 47102, 47103, 47104, 47105, 47106
LOCAL = "127.0.0.1"




class SocketUdpAgainstQemu(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("must run as root (a private network namespace)")
        qemu = find_qemu()
        self.work = tempfile.mkdtemp(prefix="vnt-sockq-")
        self.addCleanup(shutil.rmtree, self.work, True)
        stack = contextlib.ExitStack()
        self.addCleanup(stack.close)
        stack.enter_context(private_netns())
        argv = [qemu, "-M", "none", "-nodefaults", "-display", "none",
                "-netdev", f"socket,id=q0,udp={LOCAL}:{S0},localaddr={LOCAL}:{Q0}",
                "-netdev", "hubport,id=qh0,hubid=0,netdev=q0",
                "-netdev", f"socket,id=q1,udp={LOCAL}:{T},localaddr={LOCAL}:{Q1}",
                "-netdev", "hubport,id=qh1,hubid=0,netdev=q1"]
        stack.enter_context(running_qemu(argv, self.work))
        # Already in the private namespace: no unshare of its own.
        self.daemon, self.vnetd = start_vnetd(self, os.path.join(self.work, "vnetd"), own_netns=False)
        for netdev in ({"type": "socket", "id": "s0", "udp": f"{LOCAL}:{Q0}", "localaddr": f"{LOCAL}:{S0}"},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "s0"},
                       {"type": "socket", "id": "s1", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:{S1}"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}):
            self.vnetd.cmd("netdev_add", **netdev)
        self.t = udp_socket(self, T)
        self.t2 = udp_socket(self, T2)

    def test_frames_cross_both_ways_byte_for_byte(self):
        for size in (60, 1514, 9000):
            out = frame(size, f"qemu->vnetd {size}")
            self.t.sendto(out, (LOCAL, Q1))
            data, source = self.t2.recvfrom(70000)
            self.assertEqual((data, source), (out, (LOCAL, S1)), f"{size} bytes, QEMU -> vnetd")
            back = frame(size, f"vnetd->qemu {size}")
            self.t2.sendto(back, (LOCAL, S1))
            data, source = self.t.recvfrom(70000)
            self.assertEqual((data, source), (back, (LOCAL, Q1)), f"{size} bytes, vnetd -> QEMU")
        details = {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs")}
        self.assertEqual((details["s0"]["frames-in"], details["s0"]["frames-out"]), (3, 3))
        self.assertEqual((details["s1"]["frames-in"], details["s1"]["frames-out"]), (3, 3))
        self.assertEqual(details["s0"]["bytes-in"], 60 + 1514 + 9000)

    def test_a_burst_goes_to_qemu_in_udp_gso_sends_and_arrives_datagram_by_datagram(self):
        """vnetd sends runs of same-sized frames as one UDP GSO send each;
        QEMU, a plain recvfrom() reader, still gets one datagram per frame, in
        order, byte for byte. vnetd is paused while the burst is queued, so it
        takes the burst in one batch."""
        burst = [frame(1514, f"burst {i}") for i in range(40)]
        burst += [frame(60, f"small {i}") for i in range(20)]
        burst += [frame(1000, "odd one"), frame(1514, "last")]
        os.kill(self.daemon.pid, signal.SIGSTOP)
        try:
            for out in burst:
                self.t2.sendto(out, (LOCAL, S1))
        finally:
            os.kill(self.daemon.pid, signal.SIGCONT)
        self.t.settimeout(5)
        got = [self.t.recvfrom(70000) for _ in burst]
        self.assertEqual([data for data, _ in got], burst)
        self.assertEqual({source for _, source in got}, {(LOCAL, Q1)})
        s0 = {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs")}["s0"]
        self.assertEqual((s0["frames-out"], s0["drops-send-error"]), (len(burst), 0), s0)
        self.assertTrue(s0["udp-gso"], s0)
        self.assertGreaterEqual(s0["udp-gso-sends"], 2, s0)

    def test_a_loop_of_hubs_is_cut_not_circled_for_ever(self):
        # hub 5: h5a (peer s5) and h5b; hub 6: h6a (peer h5b) and h6b; hub 5
        # again: h5c, peered with h6b. A frame from s5 goes round 5 -> 6 -> 5 ...
        for netdev in ({"type": "socket", "id": "s5", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:47110"},
                       {"type": "hubport", "id": "h5a", "hubid": 5, "netdev": "s5"},
                       {"type": "hubport", "id": "h5b", "hubid": 5},
                       {"type": "hubport", "id": "h6a", "hubid": 6, "netdev": "h5b"},
                       {"type": "hubport", "id": "h6b", "hubid": 6},
                       {"type": "hubport", "id": "h5c", "hubid": 5, "netdev": "h6b"}):
            self.vnetd.cmd("netdev_add", **netdev)
        self.t2.sendto(frame(60, "loop"), (LOCAL, 47110))
        echoes = 0
        self.t2.settimeout(0.5)
        with contextlib.suppress(socket.timeout):
            while True:
                self.t2.recvfrom(70000)
                echoes += 1
        details = {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs")}
        self.assertGreater(sum(d.get("loop-drops", 0) for d in details.values()), 0)
        self.assertLess(echoes, 10, "the frame kept circling")
        self.assertIn("qemu", self.vnetd.cmd("query-version"), "vnetd stopped answering")


if __name__ == "__main__":
    unittest.main()
