#!/usr/bin/env python3
"""vnetd's guest NICs against QEMU 7.2's virtio-net-pci (docs/rx-filter.md):

- query-rx-filter of a fresh NIC: QEMU (stopped, -S) with a virtio-net-pci
  device on a user netdev, vnetd with a tap netdev and a `nic` netdev with the
  same MAC, each in a network namespace of its own; every member and value
  must be the same, except the NIC's name (QEMU names it after the device's id).
- announce-self: the frames QEMU itself sends (qemu_announce.py), checked
  against QEMU 7.2's RARP frame and round timing (announce-capture.txt).

Needs root and qemu-system-x86; without them the tests fail saying so.
Python 3 standard library only."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from vnetd_harness import start_vnetd  # noqa: E402
from qemu_announce import announce_frames, find_qemu, running_qemu  # noqa: E402
from qmp_oracle import strict_equal  # noqa: E402
from kernel_timestamps import hold_arrival_timestamps  # noqa: E402

MAC = "52:54:00:ab:cd:01"  # not QEMU's default 52:54:00:12:34:56, so main-mac is really passed on
QEMU_NIC_ID = "nic0"
VNETD_NIC_ID = "n0"

# What QEMU 7.2 sent for announce-self {initial 0, max 100, rounds 3, step 50}
# on a virtio-net-pci NIC with MAC 52:54:00:12:34:56, captured on the UDP
# socket netdev's peer port (/work/shared/reference/qemu-7.2/announce-capture.txt):
# three 60-byte frames at t=0.530, 0.530 and 0.580 s.
ANNOUNCE_MAC = "52:54:00:12:34:56"
ANNOUNCE_PARAMS = {"initial": 0, "max": 100, "rounds": 3, "step": 50}
REFERENCE_FRAME = bytes.fromhex(
    "ffffffffffff" "525400123456" "8035"       # broadcast, from the NIC, ETH_P_RARP
    "0001" "0800" "06" "04" "0003"             # Ethernet, IPv4, hlen 6, plen 4, ARPOP_RREQUEST (3)
    "525400123456" "00000000"                  # sender: the NIC's MAC, 0.0.0.0
    "525400123456" "00000000"                  # target: the NIC's MAC, 0.0.0.0
    + "00" * 18)                               # padding to ETH_ZLEN (60)
REFERENCE_TIMES = [0.530, 0.530, 0.580]
# The first round goes out with the command's reply; rounds are timed in
# whole milliseconds (qemu_clock_get_ms), so a round may come up to 1 ms
# early, and late by however busy this machine is.
FIRST_FRAME_LIMIT = 0.25
EARLY, LATE = 0.002, 0.040


def differences(qemu, vnetd):
    """Lines naming every member that differs between two RxFilterInfo, with both values."""
    lines = []
    for key in sorted(set(qemu) | set(vnetd)):
        if key not in vnetd:
            lines.append(f"  {key}: only QEMU has it: {json.dumps(qemu[key])}")
        elif key not in qemu:
            lines.append(f"  {key}: only vnetd has it: {json.dumps(vnetd[key])}")
        elif not strict_equal(qemu[key], vnetd[key]):
            lines.append(f"  {key}:\n    QEMU : {json.dumps(qemu[key])}\n    vnetd: {json.dumps(vnetd[key])}")
    return lines


class RxFilterAgainstQemu(unittest.TestCase):
    def setUp(self):
        qemu = find_qemu()
        self.work = tempfile.mkdtemp(prefix="vnt-rxq-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.qemu = self.start_qemu(qemu)
        # vnetd in a namespace of its own (Vnetd runs it under unshare --net as root).
        _, self.vnetd = start_vnetd(self, os.path.join(self.work, "vnetd"))
        self.vnetd.cmd("netdev_add", type="tap", id="t0", vnet_hdr=False)
        self.vnetd.cmd("netdev_add", type="nic", id=VNETD_NIC_ID, netdev="t0", macaddr=MAC, model="virtio-net-pci")

    def start_qemu(self, binary):
        # The NIC's peer does not matter to its filter: user (slirp) when this
        # QEMU has it, else a UDP socket netdev, which is always built in.
        listed = subprocess.run([binary, "-netdev", "help"], capture_output=True, text=True).stdout.split()
        backend = "user,id=hn0" if "user" in listed else "socket,id=hn0,udp=127.0.0.1:47031,localaddr=127.0.0.1:47032"
        argv = ["unshare", "--net", "--", binary, "-M", "q35", "-accel", "tcg", "-nodefaults", "-S",
                "-display", "none", "-netdev", backend,
                "-device", f"virtio-net-pci,netdev=hn0,id={QEMU_NIC_ID},mac={MAC}"]
        stack = contextlib.ExitStack()
        self.addCleanup(stack.close)
        return stack.enter_context(running_qemu(argv, self.work))

    def assert_same_filters(self, qemu_reply, vnetd_reply, request):
        self.assertIn("return", qemu_reply, f"QEMU: {request} answered {qemu_reply}")
        self.assertIn("return", vnetd_reply, f"vnetd: {request} answered {vnetd_reply}")
        (qemu,), (vnetd,) = qemu_reply["return"], vnetd_reply["return"]
        self.assertEqual((qemu.get("name"), vnetd.get("name")), (QEMU_NIC_ID, VNETD_NIC_ID))
        qemu, vnetd = dict(qemu), dict(vnetd)
        del qemu["name"], vnetd["name"]
        # QEMU 7.2 reports its "nobcast" flag as broadcast-allowed; vnetd
        # reports the meaning (CONTRACT.md; docs/qmp-oracle.md difference 19).
        qemu["broadcast-allowed"] = not qemu["broadcast-allowed"]
        diff = differences(qemu, vnetd)
        if diff:
            self.fail(f"{request}: query-rx-filter differs (besides the name):\n" + "\n".join(diff) +
                      f"\nin full:\nQEMU : {json.dumps(qemu)}\nvnetd: {json.dumps(vnetd)}")

    def test_fresh_nic_reports_what_qemu_reports(self):
        self.assert_same_filters(self.qemu.execute("query-rx-filter", {"name": QEMU_NIC_ID}),
                                 self.vnetd.execute("query-rx-filter", {"name": VNETD_NIC_ID}),
                                 "query-rx-filter {name}")
        # Without a name: every NIC, here the one.
        self.assert_same_filters(self.qemu.execute("query-rx-filter"), self.vnetd.execute("query-rx-filter"),
                                 "query-rx-filter")


def rarp_fields(frame):
    """The RARP frame's fields by name, so a mismatch says which one."""
    return {"destination": frame[0:6].hex(":"), "source": frame[6:12].hex(":"), "ethertype": frame[12:14].hex(),
            "hardware type": frame[14:16].hex(), "protocol type": frame[16:18].hex(), "hlen": frame[18],
            "plen": frame[19], "operation": frame[20:22].hex(), "sender MAC": frame[22:28].hex(":"),
            "sender IP": frame[28:32].hex(), "target MAC": frame[32:38].hex(":"), "target IP": frame[38:42].hex(),
            "padding": frame[42:].hex(), "length": len(frame)}


class QemuAnnounce(unittest.TestCase):
    def test_three_rarp_frames_spaced_as_qemu_7_2(self):
        frames = announce_frames(ANNOUNCE_MAC, ANNOUNCE_PARAMS)
        shown = "\n".join(f"  t={t:.4f} len={len(f)} {f.hex()}" for t, f in frames)
        self.assertEqual(len(frames), 3, f"announce-self {ANNOUNCE_PARAMS}: expected 3 frames, got:\n{shown}")
        for i, (_, frame) in enumerate(frames):
            self.assertEqual(rarp_fields(frame), rarp_fields(REFERENCE_FRAME), f"frame {i + 1}")
            self.assertEqual(frame, REFERENCE_FRAME)
        times = [t for t, _ in frames]
        self.assertTrue(0 <= times[0] < FIRST_FRAME_LIMIT, f"the first round is sent with the command:\n{shown}")
        for i in (1, 2):
            gap = times[i] - times[i - 1]
            expected = REFERENCE_TIMES[i] - REFERENCE_TIMES[i - 1]
            self.assertTrue(expected - EARLY <= gap <= expected + LATE,
                            f"frame {i + 1} came {gap * 1000:.1f} ms after frame {i}; in QEMU 7.2's capture "
                            f"{expected * 1000:.0f} ms\n{shown}")


class VnetdAnnounceMatchesQemu(unittest.TestCase):
    """The same announce-self to QEMU and to vnetd, in one run: vnetd's
    frames (captured on its tap's host side, where the XDP live frame is
    received) must be byte for byte QEMU's, with QEMU's spacing."""

    def test_same_frames_same_schedule(self):
        qemu_frames = announce_frames(ANNOUNCE_MAC, ANNOUNCE_PARAMS)
        work = tempfile.mkdtemp(prefix="vnt-ann-")
        self.addCleanup(shutil.rmtree, work, True)
        daemon, client = start_vnetd(self, os.path.join(work, "vnetd"))
        client.cmd("netdev_add", type="tap", id="t0", ifname="va0", vnet_hdr=False)
        client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr=ANNOUNCE_MAC)
        self.addCleanup(hold_arrival_timestamps().close)  # else the capture's first frames may be stamped late
        capture = subprocess.Popen(["nsenter", f"--net=/proc/{daemon.pid}/ns/net", sys.executable, "-c",
                                    CAPTURE, "va0"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(capture.kill)
        self.assertEqual(capture.stdout.readline().strip(), "ready")
        client.cmd("announce-self", **ANNOUNCE_PARAMS)
        ours = []
        for _ in range(len(qemu_frames)):
            stamp, data = capture.stdout.readline().split()
            ours.append((float(stamp), bytes.fromhex(data)))
        self.assertEqual([f for _, f in ours], [f for _, f in qemu_frames], "vnetd's frames are not QEMU's")
        for i in range(1, len(ours)):
            ours_gap, qemu_gap = ours[i][0] - ours[i - 1][0], qemu_frames[i][0] - qemu_frames[i - 1][0]
            self.assertLess(abs(ours_gap - qemu_gap), LATE,
                            f"gap {i}: vnetd {ours_gap * 1000:.1f} ms, QEMU {qemu_gap * 1000:.1f} ms")


CAPTURE = r'''
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind((sys.argv[1], 0))
SO_TIMESTAMPNS = 35  # asm-generic/socket.h; Python's socket module lacks it
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
print("ready", flush=True)
while True:
    data, ancillary, _, addr = s.recvmsg(65536, 1024)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    stamp = next((int.from_bytes(d[:8], "little") + int.from_bytes(d[8:16], "little") / 1e9
                  for level, kind, d in ancillary if kind == SO_TIMESTAMPNS), 0.0)
    print(f"{stamp:.6f} {data.hex()}", flush=True)
'''


if __name__ == "__main__":
    unittest.main()
