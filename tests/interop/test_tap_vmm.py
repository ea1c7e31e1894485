#!/usr/bin/env python3
"""A real VMM takes vnetd's fds: vnetd creates a tap, the test gets its fd
with netdev-get-fds and hands it to qemu-system-x86_64 with QEMU's own getfd;
QEMU joins it through a hub to a UDP socket netdev. Frames sent to QEMU's UDP
socket must come out of the tap's host side, and back. All of it inside a
network namespace the test makes (the test's thread enters it)."""
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "netns"))
from netns_harness import QmpClient, enter_private_namespace, vnetd_binary  # noqa: E402

PORT_TEST, PORT_QEMU = 47001, 47002
PROBE = b"\x88\xb5"


def wait_for(path):
    for _ in range(300):
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


class QemuTakesOurTap(unittest.TestCase):
    def setUp(self):
        qemu = shutil.which("qemu-system-x86_64")
        self.assertIsNotNone(qemu, "qemu-system-x86_64 is missing: install qemu-system-x86 (scripts/install-deps)")
        self.ns = enter_private_namespace(self, "vnt-vmm")
        work = tempfile.mkdtemp(prefix="vnt-vmm-")
        self.addCleanup(shutil.rmtree, work, True)
        vnetd_sock, qemu_sock = os.path.join(work, "vnetd.sock"), os.path.join(work, "qemu.sock")
        self.start([vnetd_binary(), "--socket", vnetd_sock, "--state-dir", os.path.join(work, "state")])
        self.start([qemu, "-M", "none", "-nodefaults", "-display", "none", "-qmp",
                    f"unix:{qemu_sock},server=on,wait=off"])
        wait_for(vnetd_sock)
        wait_for(qemu_sock)
        self.vnetd = QmpClient(vnetd_sock)
        self.qemu = QmpClient(qemu_sock)
        self.addCleanup(self.vnetd.close)
        self.addCleanup(self.qemu.close)

    def start(self, command):
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)

        def stop():
            process.terminate()
            process.wait(10)
        self.addCleanup(stop)

    def test_frames_cross_qemu_and_our_tap_both_ways(self):
        # Bound before QEMU sends anything there (an ICMP unreachable would
        # leave an error on QEMU's socket that eats the next frame).
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", PORT_TEST))
        self.addCleanup(udp.close)
        self.vnetd.cmd("netdev_add", type="tap", id="t0", ifname="vmmtap", vnet_hdr=False)
        reply = self.vnetd.execute("netdev-get-fds", {"id": "t0"})
        fds = self.vnetd.take_received_fds()
        self.assertEqual(reply, {"return": {"fds": [{"role": "tap", "queue": 0}]}})
        self.assertEqual(self.qemu.execute("getfd", {"fdname": "vnettap"}, fds=fds), {"return": {}})
        for fd in fds:
            os.close(fd)
        for netdev in ({"type": "tap", "id": "t", "fd": "vnettap"},
                       {"type": "hubport", "id": "hp0", "hubid": 0, "netdev": "t"},
                       {"type": "socket", "id": "u", "udp": f"127.0.0.1:{PORT_TEST}",
                        "localaddr": f"127.0.0.1:{PORT_QEMU}"},
                       {"type": "hubport", "id": "hp1", "hubid": 0, "netdev": "u"}):
            self.assertEqual(self.qemu.execute("netdev_add", netdev), {"return": {}}, netdev)

        host_side = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
        host_side.bind(("vmmtap", 0))
        self.addCleanup(host_side.close)

        to_host = bytes.fromhex("0200000000aa" "52540012345a") + PROBE + b"via QEMU to the host".ljust(46, b".")
        udp.sendto(to_host, ("127.0.0.1", PORT_QEMU))
        self.assertTrue(select.select([host_side], [], [], 3.0)[0], "QEMU did not write the frame into our tap")
        self.assertEqual(host_side.recv(65536), to_host)

        to_guest = bytes.fromhex("52540012345a" "0200000000aa") + PROBE + b"from the host via QEMU".ljust(46, b".")
        host_side.send(to_guest)
        self.assertTrue(select.select([udp], [], [], 3.0)[0], "QEMU did not read the frame from our tap")
        self.assertEqual(udp.recv(65536), to_guest)


if __name__ == "__main__":
    unittest.main()
