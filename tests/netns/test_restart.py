#!/usr/bin/env python3
"""A daemon restart that loses nothing (issues 5 and 8), in a namespace:

    veth v0 --- v1 [bridge br0] --- tap t0 (vnetd, 2 queues) <- nic n0

The test holds the tap's queue fds as a VMM would. vnetd is killed with
SIGKILL: the tap (persistent), its bridge port and the NIC's rx filter (a BPF
program on the tap, its maps pinned in the state dir's bpffs) stay, and the
VMM's fds keep working, the filter still dropping what the guest would drop.
A new vnetd on the same state dir re-adopts it all: same ifname, ifindex and
queues, the same filter (now changeable again through the same maps), and
netdev_del then removes everything. SIGTERM removes all it made; with
--keep-devices it leaves all for the next daemon.

`ip netns exec` gives each vnetd a mount namespace of its own, so a bpffs
vnetd mounted itself would go with it; the test mounts the state dir's bpffs
from outside first, as a host (or a systemd unit) would keep it."""
import json
import os
import select
import signal
import subprocess
import sys
import time
import unittest

from netns_harness import NamespaceTestCase, QmpClient, run, vnetd_binary, watch_stderr_log  # noqa: E402

OWN = "52:54:00:12:34:56"
OTHER = "52:54:00:00:00:ff"
PROBE = b"\x88\xb5"
STRICT = {"promiscuous": False, "multicast": "normal", "unicast": "normal", "vlan": "all",
          "broadcast-allowed": False, "multicast-overflow": False, "unicast-overflow": False,
          "main-mac": OWN, "vlan-table": [], "unicast-table": [], "multicast-table": []}


class RestartInNamespace(NamespaceTestCase):
    def setUp(self):
        super().setUp()
        self.sh("ip link add br0 type bridge && ip link set br0 up"
                " && ip link add v0 type veth peer name v1 && ip link set v1 master br0"
                " && ip link set v0 up && ip link set v1 up")
        self.state = os.path.join(self.work, "state")
        self.bpf = os.path.join(self.state, "bpf")
        os.makedirs(self.bpf)
        run("mount", "-t", "bpf", "bpf", self.bpf)
        self.addCleanup(run, "umount", "-l", self.bpf, check=False)
        self.sock = os.path.join(self.work, "qmp.sock")
        self.vnetd = None
        self.addCleanup(self.kill_vnetd)
        self.sender = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c", SENDER],
                                       stdin=subprocess.PIPE, text=True)
        self.addCleanup(self.sender.kill)

    # -- the daemon, started and stopped by hand

    def launch(self, *extra):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(os.path.join(self.work, "vnetd.log"), "a")
        watch_stderr_log(self, self.log.name)
        self.addCleanup(self.log.close)
        self.vnetd = subprocess.Popen(["ip", "netns", "exec", self.ns, vnetd_binary(), "--socket", self.sock,
                                       "--state-dir", self.state, "--bridge-acl", self.acl, *extra],
                                      stderr=self.log)
        for _ in range(250):
            if os.path.exists(self.sock):
                break
            time.sleep(0.02)
        self.client = QmpClient(self.sock)
        return self.client

    def kill_vnetd(self, sig=signal.SIGKILL):
        if self.vnetd and self.vnetd.poll() is None:
            self.client.close()
            self.vnetd.send_signal(sig)
            self.vnetd.wait(20)
        return self.vnetd.returncode if self.vnetd else None

    def daemon_log(self):
        with open(os.path.join(self.work, "vnetd.log")) as f:
            return f.read()

    # -- the kernel's view and the traffic

    def links(self):
        return {l["ifname"]: l for l in json.loads(self.sh("ip -d -j link show"))}

    def netdev(self, netdev_id):
        found = [n for n in self.client.cmd("query-netdevs") if n["id"] == netdev_id]
        return found[0] if found else None

    def pins(self):
        found = []
        for root, _, files in os.walk(os.path.join(self.bpf, "rx_filter_v1")):
            found += [os.path.relpath(os.path.join(root, f), self.bpf) for f in files]
        return sorted(found)

    def arrivals(self, fds, dsts):
        """Sends one probe to each dst from v0; returns the dsts read from the fds."""
        for fd in fds:
            while select.select([fd], [], [], 0)[0]:
                os.read(fd, 65536)
        self.sender.stdin.write(json.dumps(dsts) + "\n")
        self.sender.stdin.flush()
        got, deadline = [], time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ready = select.select(fds, [], [], 0.1)[0]
            if not ready and len(got) == len(dsts):
                break
            for fd in ready:
                frame = os.read(fd, 65536)[10:]  # after the virtio-net header
                if frame[12:14] == PROBE:
                    got.append(":".join(f"{b:02x}" for b in frame[:6]))
        return sorted(got)

    def setup_vm(self):
        client = self.launch()
        client.cmd("netdev_add", type="tap", id="t0", ifname="vr0", queues=2, br="br0")
        client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr=OWN)
        client.cmd("set-rx-filter", name="n0", **STRICT)
        client.cmd("set-announce-addresses", name="n0", addresses=["192.0.2.10"])
        client.cmd("netdev-get-fds", id="t0")
        fds = client.take_received_fds()[:2]  # the two queues, as a VMM holds them
        for fd in fds:
            self.addCleanup(os.close, fd)
        return fds

    # -- tests

    def test_sigkill_then_restart_loses_nothing(self):
        fds = self.setup_vm()
        before = self.netdev("t0")["details"]
        self.assertEqual(self.arrivals(fds, [OWN, OTHER]), [OWN])
        self.kill_vnetd()

        # No daemon: the tap, its port and the filter are all still there.
        link = self.links()["vr0"]
        self.assertEqual((link["ifindex"], link.get("master")), (before["ifindex"], "br0"))
        self.assertEqual(self.arrivals(fds, [OWN, OTHER]), [OWN], "the filter stopped with the daemon")

        self.launch()
        self.assertIn("re-adopted 2 of 2 netdevs", self.daemon_log())
        tap = self.netdev("t0")["details"]
        for key in ("ifname", "ifindex", "queues", "multi-queue", "vnet-hdr", "bridge", "created"):
            self.assertEqual(tap[key], before[key], key)
        self.assertEqual(tap["queue-fds"], 0, "vnetd opened queues beside the VMM's")
        nic = self.netdev("n0")
        self.assertEqual(nic["peer"], "t0")
        self.assertTrue(nic["details"]["rx-filter-enforced"])
        self.assertEqual(nic["details"]["announce-addresses"], ["192.0.2.10"])
        [info] = self.client.cmd("query-rx-filter", name="n0")
        for key, value in STRICT.items():
            if key != "vlan-table":  # QEMU lists every id for vlan "all"; compared below
                self.assertEqual(info[key], value, key)
        # The same maps: a change now reaches the program on the tap.
        self.client.cmd("set-rx-filter", name="n0", **dict(STRICT, promiscuous=True))
        self.assertEqual(self.arrivals(fds, [OWN, OTHER]), [OTHER, OWN])
        self.client.cmd("set_link", name="t0", up=False)
        self.assertNotIn("UP", self.links()["vr0"]["flags"])
        self.client.cmd("set_link", name="t0", up=True)

        self.client.cmd("netdev_del", id="n0")
        self.client.cmd("netdev_del", id="t0")
        deadline = time.monotonic() + 5
        while "vr0" in self.links():
            self.assertLess(time.monotonic(), deadline, "vr0 still there after netdev_del")
            time.sleep(0.05)
        self.assertEqual(self.pins(), [])
        self.assertEqual(self.kill_vnetd(signal.SIGTERM), 0)

    def test_running_announce_timers_resume(self):
        client = self.launch()
        client.cmd("netdev_add", type="tap", id="t0", ifname="vr0", br="br0")
        client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr=OWN)
        capture = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c", RARP_CAPTURE],
                                   stdout=subprocess.PIPE, text=True)
        self.addCleanup(capture.kill)
        self.assertEqual(capture.stdout.readline().strip(), "ready")
        client.cmd("announce-self", initial=400, max=400, rounds=6, step=0, id="migration")
        stamps = [float(capture.stdout.readline())]
        stamps.append(float(capture.stdout.readline()))  # round 2, at +400 ms
        self.kill_vnetd()
        killed = time.monotonic()
        self.launch()
        self.assertIn("and 1 announce timers", self.daemon_log())
        while len(stamps) < 6:
            ready = select.select([capture.stdout], [], [], 3)[0]
            self.assertTrue(ready, f"only {len(stamps)} of 6 rounds came: the timer did not resume")
            stamps.append(float(capture.stdout.readline()))
        self.assertGreater(stamps[2], killed, "round 3 came before the restart")
        # The saved state is at most one round behind a SIGKILL: one more may come.
        extra = select.select([capture.stdout], [], [], 1.0)[0]
        if extra:
            stamps.append(float(capture.stdout.readline()))
            self.assertFalse(select.select([capture.stdout], [], [], 1.0)[0], f"rounds at {stamps}")

    def test_restart_with_no_vmm_reopens_the_queues(self):
        client = self.launch()
        client.cmd("netdev_add", type="tap", id="t0", ifname="vr0", queues=2, br="br0")
        client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr=OWN)
        client.cmd("set-rx-filter", name="n0", **STRICT)
        self.kill_vnetd()
        self.launch()
        tap = self.netdev("t0")["details"]
        self.assertEqual((tap["queues"], tap["queue-fds"]), (2, 2))
        self.client.cmd("netdev-get-fds", id="t0")
        fds = self.client.take_received_fds()[:2]
        for fd in fds:
            self.addCleanup(os.close, fd)
        self.assertEqual(self.arrivals(fds, [OWN, OTHER]), [OWN])

    def test_sigterm_removes_everything_unless_keep_devices(self):
        self.setup_vm()
        self.assertEqual(self.kill_vnetd(signal.SIGTERM), 0)
        deadline = time.monotonic() + 5
        while "vr0" in self.links():
            self.assertLess(time.monotonic(), deadline, "SIGTERM left vr0")
            time.sleep(0.05)
        self.assertEqual(self.pins(), [])
        self.assertFalse(os.path.exists(os.path.join(self.state, "netdevs.json")))

        self.launch("--keep-devices")
        self.client.cmd("netdev_add", type="tap", id="t1", ifname="vk0", br="br0")
        self.client.cmd("netdev_add", type="nic", id="n1", netdev="t1", macaddr=OWN)
        self.assertEqual(self.kill_vnetd(signal.SIGTERM), 0)
        self.assertIn("vk0", self.links())
        self.assertEqual(self.pins(), ["rx_filter_v1/n1/config", "rx_filter_v1/n1/counters",
                                       "rx_filter_v1/n1/current_slot", "rx_filter_v1/n1/mac_table",
                                       "rx_filter_v1/n1/prog"])
        self.launch()
        self.assertEqual(sorted(n["id"] for n in self.client.cmd("query-netdevs")), ["n1", "t1"])

    def test_a_second_daemon_on_the_same_state_dir_is_refused(self):
        self.launch()
        other = subprocess.run(["ip", "netns", "exec", self.ns, vnetd_binary(), "--socket",
                                os.path.join(self.work, "other.sock"), "--state-dir", self.state],
                               capture_output=True, text=True, timeout=20)
        self.assertNotEqual(other.returncode, 0)
        self.assertIn("another vnetd uses the state dir", other.stderr)

    def test_a_state_file_that_does_not_parse_stops_the_daemon(self):
        os.makedirs(self.state, exist_ok=True)
        with open(os.path.join(self.state, "netdevs.json"), "w") as f:
            f.write('{"version": 1, "netdevs": [')
        failed = subprocess.run(["ip", "netns", "exec", self.ns, vnetd_binary(), "--socket", self.sock,
                                 "--state-dir", self.state], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("not a vnetd state file", failed.stderr)


RARP_CAPTURE = r'''
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind(("v0", 0))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(65536)
    if addr[2] != socket.PACKET_OUTGOING:
        print(time.monotonic(), flush=True)
'''

SENDER = r'''
import json, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("v0", 0))
for line in sys.stdin:
    for dst in json.loads(line):
        s.send(bytes.fromhex(dst.replace(":", "")) + bytes.fromhex("02000000aaaa") + b"\x88\xb5" + b"p" * 46)
'''

if __name__ == "__main__":
    unittest.main()
