#!/usr/bin/env python3
"""The VM-free vhost-user front end (tests/vhost_user/vhost_user_frontend.py)
against an independent back end, DPDK's testpmd (package dpdk-dev): it
checks the harness itself before the harness checks vnetd (issue 15).

testpmd runs without hugepages, its net_vhost0 vdev a vhost-user back end on a
socket of the test's own, forwarding every frame a queue receives back out of
the same queue (io forwarding, loop topology). The front end negotiates as
QEMU does, shares a memfd as guest memory, starts every ring, sends frames on
each TX queue and must get each back, byte for byte, on the RX queue of the
same pair; the back end's ring indices must match what was sent. Needs root
(testpmd's EAL) and dpdk-testpmd."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vhost_user"))
import vhost_user_frontend as vu  # noqa: E402


def frames_for(pair, count, size):
    return [bytes.fromhex("ffffffffffff52540012") + bytes([pair, i]) + b"\x08\x00" + bytes([i % 251]) * (size - 14)
            for i in range(count)]


class FrontendAgainstTestpmd(unittest.TestCase):
    def start_testpmd(self, queue_pairs):
        testpmd = shutil.which("dpdk-testpmd")
        if not testpmd:
            self.fail("dpdk-testpmd is missing: install Debian's dpdk-dev (scripts/install-deps does)")
        if os.geteuid() != 0:
            self.fail("must run as root (testpmd's EAL)")
        work = tempfile.mkdtemp(prefix="vnt-testpmd-")
        self.addCleanup(shutil.rmtree, work, True)
        path = os.path.join(work, "vhu.sock")
        argv = [testpmd, "--no-huge", "-m", "256", "--no-pci", "--file-prefix", f"vnt{os.getpid()}", "-l", "0,1",
                "--vdev", f"net_vhost0,iface={path},queues={queue_pairs}", "--",
                "--port-topology=loop", "--forward-mode=io", "--auto-start", "--no-mlockall",
                "--total-num-mbufs=4096", f"--rxq={queue_pairs}", f"--txq={queue_pairs}"]
        log = open(os.path.join(work, "testpmd.log"), "w")
        self.addCleanup(log.close)
        # testpmd stops when its stdin ends: it gets a pipe kept open.
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)

        def stop():
            proc.kill()
            proc.wait()
            shutil.rmtree(f"/var/run/dpdk/vnt{os.getpid()}", True)
        self.addCleanup(stop)
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(work, "testpmd.log")) as text:
                    self.fail("testpmd did not start its vhost-user socket:\n" + text.read()[-2000:])
            time.sleep(0.1)
        return path

    def run_pairs(self, queue_pairs):
        path = self.start_testpmd(queue_pairs)
        front = vu.Frontend(path)
        self.addCleanup(front.close)
        front.start(queue_pairs)
        self.assertTrue(front.features & (1 << vu.F_VERSION_1), "VERSION_1 negotiated")
        if queue_pairs > 1:
            self.assertTrue(front.protocol_features & (1 << vu.PF_MQ), "MQ negotiated")
        for pair in range(queue_pairs):
            front.post_rx_buffers(pair, 128)
        # testpmd notices the device a moment after the last ring starts.
        time.sleep(1.0)
        for pair in range(queue_pairs):
            with self.subTest(pair=pair):
                sent = frames_for(pair, 50, 60) + frames_for(pair, 10, 1514)
                front.send_frames(sent, pair)
                got = front.receive_frames(len(sent), pair)
                self.assertEqual(len(got), len(sent), f"pair {pair}: frames back")
                self.assertEqual(got, sent, f"pair {pair}: byte for byte, in order")
        # GET_VRING_BASE stops a ring (the front end's stop): asked last.
        for pair in range(queue_pairs):
            self.assertEqual(front.get_vring_base(2 * pair + 1), 60, f"pair {pair}: the TX ring's index, as sent")

    def test_one_queue_pair(self):
        self.run_pairs(1)

    def test_two_queue_pairs(self):
        self.run_pairs(2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
