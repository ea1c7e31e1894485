"""A real Linux guest on vnetd's vhost-user netdev (issue 15; ctest vm_vhost_user).

    guest eth0 (virtio-net-pci) = QEMU -netdev vhost-user, reconnect=1
        == UNIX socket == vnetd vu0 (vhost-user) -hub 0- u0 (user: libslirp)

The guest (tests/vm: Debian 6.12, busybox) takes a DHCP lease from vnetd's
`user` netdev through the hub and pings the slirp gateway. Then vnetd is
killed with SIGKILL and started again on the
same state: the netdev comes back listening on the same path, QEMU
reconnects, and the guest's pings resume within a bound this test measures
and prints. The guest then migrates live to a second QEMU on another
vhost-user netdev of the hub; last, the first QEMU is killed with SIGKILL and
a new QEMU boots a guest on the same netdev, which must work as the first did.

QEMU 7.2's guest RAM is a shared memfd (memory-backend-memfd,share=on), which
vhost-user needs; the device has vectors=0 (Debian's QEMU 7.2 under TCG
crashes in vhost_net_start with MSI-X, with any back end). Needs root,
qemu-system-x86 and the guest kernel; without them it fails saying what is
missing. Python 3 standard library only."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from vnetd_harness import TIMEOUT_SCALE, start_vnetd  # noqa: E402
from guest import Guest, build_guest, find_qemu, kill_vnetd_until_pings_resume  # noqa: E402

MAC = "52:54:00:5e:00:11"
GATEWAY = "10.0.2.2"
RESUME_BOUND = 30.0 * TIMEOUT_SCALE  # the measured value is printed; this only catches "never"


class VhostUserGuest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        find_qemu()
        cls.work = tempfile.mkdtemp(prefix="vnt-vmvu-")
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        cls.fixture = types.SimpleNamespace(addCleanup=cls.addClassCleanup)
        cls.vnetd_dir = os.path.join(cls.work, "vnetd")
        cls.daemon, cls.vnetd = start_vnetd(cls.fixture, cls.vnetd_dir)
        cls.socket_path = os.path.join(cls.work, "vu0.sock")
        for netdev in ({"type": "user", "id": "u0"},
                       {"type": "hubport", "id": "hu0", "hubid": 0, "netdev": "u0"},
                       {"type": "vhost-user", "id": "vu0", "chardev": cls.socket_path},
                       {"type": "hubport", "id": "hv0", "hubid": 0, "netdev": "vu0"}):
            cls.vnetd.cmd("netdev_add", **netdev)
        cls.images = build_guest(os.path.join(cls.work, "images"))
        cls.guest = Guest(os.path.join(cls.work, "guest"), cls.images, name="vhost-user-guest", extra_args=[
            "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-machine", "memory-backend=mem",
            "-chardev", f"socket,id=vu,path={cls.socket_path},reconnect=1",
            "-netdev", "vhost-user,id=n0,chardev=vu",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC},vectors=0"])
        cls.addClassCleanup(cls.guest.close)
        cls.guest.start()
        seconds = cls.guest.wait_ready()
        print(f"\nvhost-user guest: booted in {seconds:.1f}s", file=sys.stderr, flush=True)

    def details(self):
        return [n for n in self.vnetd.cmd("query-netdevs") if n["id"] == "vu0"][0]["details"]

    def test_1_dhcp_and_ping_through_vnetd(self):
        address = self.guest.dhcp("eth0", GATEWAY)
        self.assertTrue(address.startswith("10.0.2."), address)
        self.guest.check(f"ping -c 3 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        details = self.details()
        self.assertTrue(details["connected"])
        self.assertEqual(details["rings-running"], [0, 1])
        self.assertGreater(details["frames-in"], 0)
        self.assertGreater(details["frames-out"], 0)

    def test_1b_a_guests_tcp_stream_is_cut_by_vnetd_tso(self):
        # The guest negotiated CSUM and HOST_TSO4: its TCP hands vnetd frames
        # of up to 64 KiB, which slirp (a plain peer) must get cut and summed.
        features = self.details()["features"]
        self.assertTrue(features & 1 and features & (1 << 11), f"CSUM/HOST_TSO4 not negotiated: {features:#x}")
        size = 2 << 20
        # A listener where slirp's 10.0.2.2 leads: 127.0.0.1 in vnetd's namespace.
        sink = subprocess.Popen(["nsenter", f"--net=/proc/{self.daemon.pid}/ns/net", sys.executable, "-c", SINK,
                                 str(size)], stdout=subprocess.PIPE, text=True)
        self.addCleanup(sink.kill)
        self.assertEqual(sink.stdout.readline().strip(), "listening")
        self.guest.check(f"dd if=/dev/zero bs=1024 count={size // 1024} 2>/dev/null | nc {GATEWAY} 5555",
                         timeout=120 * TIMEOUT_SCALE)
        self.assertEqual(sink.stdout.readline().strip(), f"received {size}")
        details = self.details()
        self.assertGreater(details["frames-segmented"], 0, details)
        self.assertEqual(details["drops-bad-offload"], 0, details)
        print(f"\nvhost-user guest: {size} bytes over TCP, {details['frames-segmented']} TSO frames cut by vnetd",
              file=sys.stderr, flush=True)

    def test_2_traffic_resumes_after_vnetd_is_killed(self):
        self.guest.check(f"ping -c 1 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        connections = self.details()["connections"]
        # QEMU's reconnect=1 tries again every second; the guest pings until a
        # reply comes.
        resumed = kill_vnetd_until_pings_resume(self, GATEWAY, RESUME_BOUND)
        print(f"\nvhost-user guest: traffic resumed {resumed:.1f}s after vnetd's SIGKILL", file=sys.stderr, flush=True)
        details = self.details()
        self.assertTrue(details["connected"], details)
        self.assertEqual(details["rings-running"], [0, 1], details)
        self.assertEqual(connections, 1, "one connection before the kill")


    def test_3_live_migration_keeps_the_guest_on_the_hub(self):
        # The destination QEMU gets a vhost-user netdev of its own on the same hub.
        dest_socket = os.path.join(self.work, "vu1.sock")
        self.vnetd.cmd("netdev_add", type="vhost-user", id="vu1", chardev=dest_socket)
        self.vnetd.cmd("netdev_add", type="hubport", id="hv1", hubid=0, netdev="vu1")
        migration = os.path.join(self.work, "migration.sock")
        dest = Guest(os.path.join(self.work, "dest"), self.images, name="vhost-user-dest", extra_args=[
            "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-machine", "memory-backend=mem",
            "-chardev", f"socket,id=vu,path={dest_socket},reconnect=1",
            "-netdev", "vhost-user,id=n0,chardev=vu",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC},vectors=0",
            "-incoming", f"unix:{migration}"])
        self.addCleanup(dest.close)
        dest.start()
        # Traffic while the guest's memory is copied: vnetd's writes into it
        # must reach the destination through the dirty log.
        self.guest.check(f"(ping -i 0.2 -W 1 {GATEWAY} >/dev/null 2>&1 &)")
        started = time.monotonic()
        self.guest.qmp.cmd("migrate", uri=f"unix:{migration}")
        while True:
            status = self.guest.qmp.cmd("query-migrate").get("status")
            if status == "completed":
                break
            self.assertNotIn(status, ("failed", "cancelled"), self.guest.qmp.cmd("query-migrate"))
            self.assertLess(time.monotonic() - started, 120 * TIMEOUT_SCALE, f"migration still {status}")
            time.sleep(0.2)
        print(f"\nvhost-user guest: migrated in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        vu0 = [n for n in self.vnetd.cmd("query-netdevs") if n["id"] == "vu0"][0]["details"]
        self.assertGreater(vu0.get("dirty-pages-logged", 0), 0, f"vnetd logged none of its writes: {vu0}")
        out = dest.check(f"ping -c 3 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        self.assertIn("3 packets received", out)
        vu1 = [n for n in self.vnetd.cmd("query-netdevs") if n["id"] == "vu1"][0]["details"]
        self.assertEqual(vu1["rings-running"], [0, 1], vu1)
        self.assertGreater(vu1["frames-in"], 0, vu1)

    def memfd_inodes(self, pid):
        """The inodes of the guest-RAM memfds (QEMU names them after the backend's id, "mem") mapped by pid."""
        with open(f"/proc/{pid}/maps") as maps:
            return {int(line.split()[4]) for line in maps if "/memfd:mem" in line}

    def test_4_a_qemu_killed_and_started_again_gets_the_netdev_back(self):
        # The first QEMU (migrated away from in test 3, or still running) dies
        # as a crash would: vnetd must reset vu0's rings and unmap its memory.
        killed_memory = self.memfd_inodes(self.guest.proc.pid)
        self.assertTrue(killed_memory & self.memfd_inodes(self.daemon.pid), "vnetd maps none of the guest's memory")
        connections = self.details()["connections"]
        self.guest.kill()
        deadline = time.monotonic() + 10 * TIMEOUT_SCALE
        while self.details()["connected"]:
            self.assertLess(time.monotonic(), deadline, f"vnetd did not see QEMU go: {self.details()}")
            time.sleep(0.05)
        self.assertEqual(killed_memory & self.memfd_inodes(self.daemon.pid), set(),
                         "vnetd still maps the killed QEMU's memory")
        self.assertEqual(self.details().get("rings-running", []), [], self.details())  # absent when unconnected
        # A new QEMU on the same socket: a guest booting from scratch, with a
        # MAC of its own (test 3's destination had the first one on this hub).
        restarted = Guest(os.path.join(self.work, "restarted"), self.images, name="vhost-user-restarted", extra_args=[
            "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-machine", "memory-backend=mem",
            "-chardev", f"socket,id=vu,path={self.socket_path},reconnect=1",
            "-netdev", "vhost-user,id=n0,chardev=vu",
            "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:12,vectors=0"])
        self.addCleanup(restarted.close)
        restarted.start()
        restarted.wait_ready()
        address = restarted.dhcp("eth0")
        restarted.check(f"ip addr add {address}/24 dev eth0")
        self.assertIn("3 packets received", restarted.check(f"ping -c 3 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE))
        details = self.details()
        self.assertTrue(details["connected"], details)
        self.assertEqual(details["rings-running"], [0, 1], details)
        self.assertEqual(details["connections"], connections + 1, details)


# Run in vnetd's namespace: accepts one connection on 127.0.0.1:5555 and
# reads until argv[1] bytes came, then closes it.
SINK = r'''
import socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
want = int(sys.argv[1])
server = socket.create_server(("127.0.0.1", 5555))
print("listening", flush=True)
conn, _ = server.accept()
got = 0
while got < want:
    chunk = conn.recv(1 << 16)
    if not chunk:
        break
    got += len(chunk)
conn.close()
print(f"received {got}", flush=True)
'''


if __name__ == "__main__":
    unittest.main(verbosity=2)
