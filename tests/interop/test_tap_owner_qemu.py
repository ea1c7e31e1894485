#!/usr/bin/env python3
"""A VMM that is not root: QEMU 7.2 runs as uid 1000 without any capability
and gets a 4-queue tap owned by its uid. The broker, also uid 1000, is let in
by vnetd's --access rules (docs/access.md) and by the socket's group: it takes
the tap's queue fds with netdev-get-fds (an owned rule) and hands them to
QEMU with QEMU's own getfd; QEMU joins the tap through a hub to a UDP socket
netdev, and frames cross it both ways. Then 1,000 broker cycles (add a tap,
take its fds, close them, delete it), all as uid 1000, must leave vnetd's
open fds and the namespace's links as they were.

Everything runs inside a network namespace the test makes (the test's thread
enters it; the children it forks inherit it)."""
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "netns"))
from netns_harness import QmpClient, enter_private_namespace, vnetd_binary  # noqa: E402
from vnetd_harness import as_user  # noqa: E402

VMM_UID = VMM_GID = 1000
PORT_TEST, PORT_QEMU = 47011, 47012
CYCLES = int(os.environ.get("VNET_BROKER_CYCLES", "1000"))
ACCESS = f"""
[[allow]]
uid = {VMM_UID}
commands = ["query-*", "netdev_add"]

[[allow]]
uid = {VMM_UID}
commands = ["netdev-get-fds", "netdev_del"]
owned = true
"""


def wait_for(path):
    for _ in range(300):
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def drop_to_vmm():
    os.setgroups([])
    os.setgid(VMM_GID)
    os.setuid(VMM_UID)


def as_vmm(work):
    """work() in a child of uid/gid 1000 without capabilities."""
    return as_user(VMM_UID, VMM_GID, work)


def effective_caps(pid):
    with open(f"/proc/{pid}/status") as status:
        return int([line.split()[1] for line in status if line.startswith("CapEff:")][0], 16)


class UnprivilegedQemuTakesAnOwnedTap(unittest.TestCase):
    def setUp(self):
        qemu = shutil.which("qemu-system-x86_64")
        self.assertIsNotNone(qemu, "qemu-system-x86_64 is missing: install qemu-system-x86 (scripts/install-deps)")
        self.ns = enter_private_namespace(self, "vnt-own")
        work = tempfile.mkdtemp(prefix="vnt-own-")
        self.addCleanup(shutil.rmtree, work, True)
        os.chmod(work, 0o711)
        vmm_dir = os.path.join(work, "vmm")
        os.mkdir(vmm_dir)
        os.chown(vmm_dir, VMM_UID, VMM_GID)
        access = os.path.join(work, "access.toml")
        with open(access, "w") as f:
            f.write(ACCESS)
        self.vnetd_sock, self.qemu_sock = os.path.join(work, "vnetd.sock"), os.path.join(vmm_dir, "qemu.sock")
        self.vnetd_proc = self.start([vnetd_binary(), "--socket", self.vnetd_sock, "--state-dir",
                                      os.path.join(work, "state"), "--bridge-acl", os.path.join(work, "none.conf"),
                                      "--access", access, "--socket-group", str(VMM_GID)])
        self.qemu_proc = self.start([qemu, "-M", "none", "-nodefaults", "-display", "none", "-qmp",
                                     f"unix:{self.qemu_sock},server=on,wait=off"], preexec_fn=drop_to_vmm)
        wait_for(self.vnetd_sock)
        wait_for(self.qemu_sock)
        self.root = QmpClient(self.vnetd_sock)
        self.addCleanup(self.root.close)

    def start(self, command, preexec_fn=None):
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL, preexec_fn=preexec_fn)

        def stop():
            process.terminate()
            process.wait(10)
        self.addCleanup(stop)
        return process

    def vnetd_fds(self):
        return sorted(os.listdir(f"/proc/{self.vnetd_proc.pid}/fd"), key=int)

    def links(self):
        return sorted(link["ifname"] for link in json.loads(subprocess.run(["ip", "-j", "link", "show"],
                                                                           capture_output=True, text=True).stdout))

    def test_frames_cross_an_unprivileged_qemu_on_a_four_queue_owned_tap(self):
        self.assertEqual(os.stat(f"/proc/{self.qemu_proc.pid}").st_uid, VMM_UID)
        self.assertEqual(effective_caps(self.qemu_proc.pid), 0, "QEMU runs with capabilities")
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", PORT_TEST))
        self.addCleanup(udp.close)
        self.root.cmd("netdev_add", type="tap", id="t0", ifname="vowntap", queues=4, vnet_hdr=False, owner=VMM_UID)
        vnetd_sock, qemu_sock = self.vnetd_sock, self.qemu_sock

        def broker():
            vnetd = QmpClient(vnetd_sock)
            qemu = QmpClient(qemu_sock)
            out = {"get-fds": vnetd.execute("netdev-get-fds", {"id": "t0"})}
            fds = vnetd.take_received_fds()
            out["fd-count"] = len(fds)
            names = []
            for i, fd in enumerate(fds):
                names.append(f"q{i}")
                out[f"getfd q{i}"] = qemu.execute("getfd", {"fdname": f"q{i}"}, fds=[fd])
                os.close(fd)
            for netdev in ({"type": "tap", "id": "t", "fds": ":".join(names)},
                           {"type": "hubport", "id": "hp0", "hubid": 0, "netdev": "t"},
                           {"type": "socket", "id": "u", "udp": f"127.0.0.1:{PORT_TEST}",
                            "localaddr": f"127.0.0.1:{PORT_QEMU}"},
                           {"type": "hubport", "id": "hp1", "hubid": 0, "netdev": "u"}):
                out[f"netdev_add {netdev['id']}"] = qemu.execute("netdev_add", netdev)
            vnetd.close()
            qemu.close()
            return out

        out = as_vmm(broker)
        self.assertEqual(out.pop("get-fds"), {"return": {"fds": [{"role": "tap", "queue": q} for q in range(4)]}})
        self.assertEqual(out.pop("fd-count"), 4)
        for step, reply in out.items():
            self.assertEqual(reply, {"return": {}}, step)

        host_side = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        host_side.bind(("vowntap", 0))
        self.addCleanup(host_side.close)

        # QEMU writes into queue 0, its hub's peer.
        to_host = bytes.fromhex("0200000000aa" "52540012345a" "88b5") + b"via QEMU to the host".ljust(46, b".")
        udp.sendto(to_host, ("127.0.0.1", PORT_QEMU))
        deadline = time.monotonic() + 3
        got = None
        while got != to_host:
            self.assertTrue(select.select([host_side], [], [], max(deadline - time.monotonic(), 0))[0],
                            "the unprivileged QEMU did not write the frame into the owned tap")
            got = host_side.recv(65536)

        # The other way the kernel picks the queue by flow hash, and only
        # queue 0 has a peer in QEMU (its hub): of several UDP flows, those on
        # queue 0 must arrive, byte for byte.
        sent = set()
        for sport in range(40000, 40032):
            payload = b"from the host via QEMU".ljust(32, b".")
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                             bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
            frame = (bytes.fromhex("52540012345a" "0200000000aa" "0800") + ip +
                     struct.pack("!HHHH", sport, 9, 8 + len(payload), 0) + payload)
            sent.add(frame)
            host_side.send(frame)
        arrived = []
        while select.select([udp], [], [], 1.0)[0]:
            arrived.append(udp.recv(65536))
        self.assertTrue(arrived, "no frame went from the owned tap through the unprivileged QEMU")
        for frame in arrived:
            self.assertIn(frame, sent, "a frame came out of QEMU changed")

    def test_broker_cycles_leave_nothing_behind(self):
        self.root.cmd("query-netdevs")
        fds_before, links_before = self.vnetd_fds(), self.links()
        vnetd_sock = self.vnetd_sock

        def cycles():
            vnetd = QmpClient(vnetd_sock)
            failures = []
            for i in range(CYCLES):
                added = vnetd.execute("netdev_add", {"type": "tap", "id": "b", "ifname": "vbrk0", "queues": 4,
                                                     "owner": VMM_UID})
                got = vnetd.execute("netdev-get-fds", {"id": "b"})
                fds = vnetd.take_received_fds()
                for fd in fds:
                    os.close(fd)
                deleted = vnetd.execute("netdev_del", {"id": "b"})
                if added != {"return": {}} or "return" not in got or len(fds) != 4 or deleted != {"return": {}}:
                    failures.append([i, added, got, len(fds), deleted])
                    if len(failures) > 3:
                        break
            vnetd.close()
            return failures

        started = time.monotonic()
        self.assertEqual(as_vmm(cycles), [])
        elapsed = time.monotonic() - started
        # Teardown runs after the answers; wait for it.
        deadline = time.monotonic() + 10
        while (self.vnetd_fds() != fds_before or self.links() != links_before) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.links(), links_before, "links were left behind")
        self.assertEqual(len(self.vnetd_fds()), len(fds_before),
                         f"vnetd's fds: {len(fds_before)} before, {len(self.vnetd_fds())} after")
        self.assertEqual(self.root.cmd("query-netdevs"), [])
        print(f"\n{CYCLES} broker cycles as uid {VMM_UID} in {elapsed:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
