#!/usr/bin/env python3
"""vnetd's socket netdev in listen=, connect= and mcast= modes against QEMU
7.2's, on the wire (issue 6):

    test T --udp--> QEMU q1 -hub- q0 ==tcp or mcast== vnetd s0 -hub- s1 --udp--> test T2

and back. Frames of 60, 1514 and 9000 bytes must arrive byte for byte: over
TCP each behind its 4-byte big-endian length, over multicast one datagram
each. Also QEMU's connection semantics for listen= (the next connection is
taken when one ends) and a length over QEMU's limit ending the connection,
not the daemon. All on loopback in a network namespace of the test's own.
Needs root and qemu-system-x86."""
import contextlib
import os
import socket
import struct
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from wire import WireTestCase, frame, udp_socket  # noqa: E402
from qemu_announce import running_qemu  # noqa: E402

T, Q1, S1, T2, TCP, MCAST_PORT = 47201, 47202, 47205, 47206, 47210, 47211
LOCAL = "127.0.0.1"
GROUP = "239.192.0.7"
NET_BUFSIZE = 4096 + 65536


class StreamAndMulticastAgainstQemu(WireTestCase):
    work_prefix = "vnt-sockstream-"

    def setUp(self):
        super().setUp()
        self.t = udp_socket(self, T)
        self.t2 = udp_socket(self, T2)
        self.qemu_runs = 0

    def start_qemu(self, q0_options, stack=None):
        """QEMU with q0 (the mode under test) and q1 (udp to T) on hub 0."""
        self.qemu_runs += 1
        workdir = os.path.join(self.work, f"qemu{self.qemu_runs}")
        os.makedirs(workdir)
        argv = [self.qemu, "-M", "none", "-nodefaults", "-display", "none",
                "-netdev", f"socket,id=q0,{q0_options}",
                "-netdev", "hubport,id=qh0,hubid=0,netdev=q0",
                "-netdev", f"socket,id=q1,udp={LOCAL}:{T},localaddr={LOCAL}:{Q1}",
                "-netdev", "hubport,id=qh1,hubid=0,netdev=q1"]
        return (stack or self.stack).enter_context(running_qemu(argv, workdir))

    def add_vnetd_side(self, s0):
        for netdev in ({"type": "socket", "id": "s0", **s0},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "s0"},
                       {"type": "socket", "id": "s1", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:{S1}"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}):
            self.vnetd.cmd("netdev_add", **netdev)

    def details(self, netdev):
        return {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs")}[netdev]

    def wait_connected(self, want=True, timeout=5):
        deadline = time.monotonic() + timeout
        while self.details("s0").get("connected") != want:
            self.assertLess(time.monotonic(), deadline, f"s0 never became connected={want}: {self.details('s0')}")
            time.sleep(0.02)

    def receive_tagged(self, sock, expected, source):
        """The frame `expected`, skipping frames that are not it (multicast
        loops each sender's own frames back to it, as QEMU's does)."""
        deadline = time.monotonic() + 3
        while True:
            self.assertLess(time.monotonic(), deadline, "frame not received")
            data, sender = sock.recvfrom(70000)
            if data == expected:
                self.assertEqual(sender, (LOCAL, source))
                return

    def exchange(self, sizes=(60, 1514, 9000), label=""):
        for size in sizes:
            out = frame(size, f"qemu->vnetd {size} {label}")
            self.t.sendto(out, (LOCAL, Q1))
            self.receive_tagged(self.t2, out, S1)
            back = frame(size, f"vnetd->qemu {size} {label}")
            self.t2.sendto(back, (LOCAL, S1))
            self.receive_tagged(self.t, back, Q1)

    def test_vnetd_listens_qemu_connects(self):
        self.add_vnetd_side({"listen": f"{LOCAL}:{TCP}"})
        self.assertFalse(self.details("s0")["connected"])
        with contextlib.ExitStack() as first:
            self.start_qemu(f"connect={LOCAL}:{TCP}", first)
            self.wait_connected()
            self.exchange(label="first connection")
        # QEMU gone: the connection ends, and the listener takes the next.
        self.wait_connected(False)
        self.start_qemu(f"connect={LOCAL}:{TCP}")
        self.wait_connected()
        self.exchange(label="second connection")
        s0 = self.details("s0")
        self.assertEqual((s0["connections"], s0["frames-in"], s0["frames-out"]), (2, 6, 6))

    def test_vnetd_connects_to_listening_qemu(self):
        self.start_qemu(f"listen={LOCAL}:{TCP}")
        self.add_vnetd_side({"connect": f"{LOCAL}:{TCP}"})
        self.wait_connected()
        self.exchange()
        self.assertEqual(self.details("s0")["remote"], f"{LOCAL}:{TCP}")

    def test_multicast_both_ways(self):
        subprocess_run(["ip", "link", "set", "lo", "multicast", "on"])
        subprocess_run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"])
        self.start_qemu(f"mcast={GROUP}:{MCAST_PORT}")
        self.add_vnetd_side({"mcast": f"{GROUP}:{MCAST_PORT}", "localaddr": LOCAL})
        self.exchange()

    def test_stream_framing_split_and_oversize(self):
        """A raw client in QEMU's place: a frame sent a byte at a time arrives
        whole; a length over QEMU's NET_BUFSIZE ends that connection and the
        listener takes the next."""
        self.add_vnetd_side({"listen": f"{LOCAL}:{TCP}"})
        client = socket.create_connection((LOCAL, TCP), timeout=3)
        self.addCleanup(client.close)
        self.wait_connected()
        out = frame(1514, "byte at a time")
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in struct.pack(">I", len(out)) + out:
            client.send(bytes([byte]))
        self.assertEqual(self.t2.recvfrom(70000)[0], out)
        back = frame(9000, "to the client")
        self.t2.sendto(back, (LOCAL, S1))
        received = b""
        while len(received) < 4 + len(back):
            chunk = client.recv(70000)
            self.assertTrue(chunk, "connection closed early")
            received += chunk
        self.assertEqual(received, struct.pack(">I", len(back)) + back)
        client.send(struct.pack(">I", NET_BUFSIZE + 1) + b"x" * 100)
        self.assertEqual(client.recv(100), b"", "the connection should end")
        self.wait_connected(False)
        self.assertIn("over the limit", self.details("s0")["last-stream-error"])
        second = socket.create_connection((LOCAL, TCP), timeout=3)
        self.addCleanup(second.close)
        self.wait_connected()
        out = frame(60, "after the bad one")
        second.sendall(struct.pack(">I", len(out)) + out)
        self.assertEqual(self.t2.recvfrom(70000)[0], out)


def subprocess_run(argv):
    import subprocess
    subprocess.run(argv, check=True, capture_output=True)


if __name__ == "__main__":
    unittest.main()
