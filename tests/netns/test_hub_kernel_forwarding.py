#!/usr/bin/env python3
"""Kernel forwarding on a hub (issue 18, item 2), in a namespace:

    test as VMM A: fd of ta (nic na) --tc: bpf_clone_redirect--> tap tb (nic nb): test as VMM B
                                     \\--------------------------> tap tc (nic nc): test as VMM C

A hub whose ports are all NICs' own taps is forwarded by the kernel: what
one "guest" writes into its tap fd is read from every other guest's fd, and
vnetd's host side sees none of it. A port whose peer vnetd carries (a
socket netdev) moves the hub to userspace, its leaving moves it back, and a
frame sent while the mode flips reaches each other guest once: none lost,
none twice. Counters are the userspace hub's, in query-netdevs. Each test in
its own network namespace."""
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

from netns_harness import NamespaceTestCase  # noqa: E402

VNET_HDR = bytes(10)
PROBE = 0x88B5
MACS = {"na": "52:54:00:12:35:0a", "nb": "52:54:00:12:35:0b", "nc": "52:54:00:12:35:0c"}
LOCAL = "127.0.0.1"


def run_text(command):
    return subprocess.run(command.split(), check=True, capture_output=True, text=True).stdout


def mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))


def frame(dst, src, seq, size=80):
    head = mac_bytes(dst) + mac_bytes(src) + struct.pack("!HI", PROBE, seq)
    return head + bytes((seq + i) % 256 for i in range(size - len(head)))


class HubKernelForwarding(NamespaceTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()
        self.vmm = {}

    def add(self, **netdev):
        self.client.cmd("netdev_add", **netdev)

    def add_guest(self, nic, port, hubid=0, **port_options):
        self.add(type="hubport", id=port, hubid=hubid, **port_options)
        self.add(type="nic", id=nic, netdev=port, macaddr=MACS[nic], ifname="t" + nic[1])
        self.client.cmd("netdev-get-fds", id=nic)
        (fd,) = self.client.take_received_fds()
        os.set_blocking(fd, False)
        self.addCleanup(os.close, fd)
        self.vmm[nic] = fd

    def hub(self, hubid=0):
        return {h["hubid"]: h for h in self.client.cmd("query-hubs")}[hubid]

    def details(self, netdev):
        return {n["id"]: n["details"] for n in self.client.cmd("query-netdevs")}[netdev]

    def reads(self, nic, timeout=2.0):
        """The next frame VMM `nic` reads, without its virtio-net header; None if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.vmm[nic]], [], [], left)[0]:
                return None
            try:
                return os.read(self.vmm[nic], 70000)[len(VNET_HDR):]
            except BlockingIOError:
                continue

    def a_reaches_b(self, first, count=1):
        """Frames first.. from guest A's VMM, each read by guest B's."""
        for seq in range(first, first + count):
            sent = frame(MACS["nb"], MACS["na"], seq)
            os.write(self.vmm["na"], VNET_HDR + sent)
            self.assertEqual(self.reads("nb"), sent, f"frame {seq}")

    def join_socket_port(self):
        self.add(type="socket", id="s1", udp=f"{LOCAL}:47511", localaddr=f"{LOCAL}:47512")
        self.add(type="hubport", id="hs", hubid=0, netdev="s1")

    def test_a_hub_of_taps_is_forwarded_in_the_kernel(self):
        for nic, port in (("na", "ha"), ("nb", "hb"), ("nc", "hc")):
            self.add_guest(nic, port)
        hub = self.hub()
        self.assertEqual(hub["forwarding"], "kernel", hub)
        self.assertNotIn("userspace-reason", hub)
        # C's guest driver takes its own MAC and broadcasts only (a fresh NIC takes all).
        self.client.cmd("set-rx-filter", name="nc", **{
            "unicast": "normal", "multicast": "normal", "broadcast-allowed": True, "promiscuous": False,
            "vlan": "normal", "unicast-overflow": False, "multicast-overflow": False, "main-mac": MACS["nc"],
            "vlan-table": [], "unicast-table": [], "multicast-table": []})
        for seq in range(20):
            sent = frame(MACS["nb"] if seq % 2 else "ff:ff:ff:ff:ff:ff", MACS["na"], seq, 60 + seq * 70)
            os.write(self.vmm["na"], VNET_HDR + sent)
            self.assertEqual(self.reads("nb"), sent, f"frame {seq} to guest B")
            if seq % 2 == 0:
                self.assertEqual(self.reads("nc"), sent, f"broadcast {seq} to guest C")
        # C's guest takes its own MAC only: B's unicasts are not even offered to C's tap.
        self.assertIsNone(self.reads("nc", timeout=0.3))
        # A frame for a MAC nobody has: B's fresh (promiscuous) filter takes it, C is not offered it.
        stray = frame("52:54:00:99:99:99", MACS["na"], 99)
        os.write(self.vmm["na"], VNET_HDR + stray)
        self.assertEqual(self.reads("nb"), stray)
        self.assertIsNone(self.reads("nc", timeout=0.3))
        self.assertIsNone(self.reads("na", timeout=0.1), "a frame went back to its sender")
        self.assertEqual(self.details("na")["host-side"]["frames-from-guest"], 0, "vnetd's host side saw the frames")
        ha, hb, hc = (self.details(p) for p in ("ha", "hb", "hc"))
        # Counted out to C as the userspace hub counts them (it sends C's tap every frame).
        self.assertEqual((ha["frames-in"], hb["frames-out"], hc["frames-out"]), (21, 21, 21), hc)
        self.assertEqual((ha["forwarding"], hb["frames-in"], ha["frames-out"]), ("kernel", 0, 0))
        self.assertEqual(self.details("nc")["rx-filter-dropped"], 0, "a frame for another MAC reached C's tap")

    def test_a_port_vnetd_carries_moves_the_hub_to_userspace_and_back(self):
        self.add_guest("na", "ha")
        self.add_guest("nb", "hb")
        self.assertEqual(self.hub()["forwarding"], "kernel")
        self.join_socket_port()
        hub = self.hub()
        self.assertEqual(hub["forwarding"], "userspace")
        self.assertIn("'hs'", hub["userspace-reason"])
        self.a_reaches_b(1)
        self.assertEqual(self.details("na")["host-side"]["frames-from-guest"], 1, "userspace carried it")
        self.client.cmd("netdev_del", id="hs")
        self.assertEqual(self.hub()["forwarding"], "kernel")
        self.a_reaches_b(2)
        self.assertEqual(self.details("na")["host-side"]["frames-from-guest"], 1, "the kernel carried it")
        self.assertEqual((self.details("ha")["frames-in"], self.details("hb")["frames-out"]), (2, 2),
                         "the counts add both paths")

    def exchange_with_the_host(self, kernel):
        """A tap netdev facing the host and guest A's tap on one hub: a frame
        the host sends out of the tap reaches guest A, and one guest A sends
        reaches the host's stack through the tap."""
        self.add(type="tap", id="t0", ifname="th0", script="no", downscript="no")
        self.add(type="hubport", id="ht", hubid=0, netdev="t0", **{"kernel-forwarding": kernel})
        self.add_guest("na", "ha")
        # IPv6 off, so that the host sends nothing of its own out of th0 (MLD, router solicitations).
        self.sh("sysctl -qw net.ipv6.conf.th0.disable_ipv6=1 && ip link set th0 up")
        self.assertEqual(self.hub()["forwarding"], "kernel" if kernel else "userspace")
        with self.in_namespace():
            host = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(PROBE))
            host.bind(("th0", PROBE))
        self.addCleanup(host.close)
        host.settimeout(2)
        out = frame(MACS["na"], "02:00:00:00:00:01", 1, 300)
        host.send(out)
        self.assertEqual(self.reads("na"), out, "the host's frame to guest A")
        back = frame("02:00:00:00:00:01", MACS["na"], 2, 400)
        os.write(self.vmm["na"], VNET_HDR + back)
        while True:
            data, address = host.recvfrom(70000)
            if address[2] != socket.PACKET_OUTGOING:
                break
        self.assertEqual(data, back, "guest A's frame into the host")
        ht = self.details("ht")
        self.assertEqual((ht["frames-in"], ht["frames-out"], ht["forwarding"]),
                         (1, 1, "kernel" if kernel else "userspace"))
        self.assertEqual(self.details("na")["host-side"]["frames-from-guest"], 0 if kernel else 1)

    def test_a_tap_facing_the_host_is_a_kernel_port(self):
        self.exchange_with_the_host(kernel=True)

    def test_a_tap_facing_the_host_in_userspace_too(self):
        self.exchange_with_the_host(kernel=False)

    def test_kernel_forwarding_false_keeps_the_hub_in_userspace(self):
        self.add_guest("na", "ha", **{"kernel-forwarding": False})
        self.add_guest("nb", "hb")
        hub = self.hub()
        self.assertEqual(hub["forwarding"], "userspace")
        self.assertIn("kernel-forwarding=false", hub["userspace-reason"])
        self.a_reaches_b(7)
        self.client.cmd("netdev_del", id="na")
        self.client.cmd("netdev_del", id="ha")
        self.assertEqual(self.hub()["forwarding"], "kernel", "the port that asked for userspace left")

    def daemon_bpf(self):
        """(kind, program name, tcx ifindex or None) of every BPF program and link vnetd holds."""
        out = []
        fd_dir = f"/proc/{self.daemon.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
                with open(f"/proc/{self.daemon.pid}/fdinfo/{fd}") as f:
                    info = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            except OSError:
                continue
            if target not in ("anon_inode:bpf-prog", "anon_inode:bpf_link") or "prog_id" not in info:
                continue
            name = run_text(f"bpftool prog show id {info['prog_id'].strip()}").split()[3]
            ifindex = int(info["ifindex"]) if info.get("link_type", "").strip() == "tcx" else None
            out.append((target.split(":")[1], name, ifindex))
        return out

    def test_deleting_the_nics_takes_the_programs_off_and_the_hub_goes(self):
        self.add_guest("na", "ha")
        self.add_guest("nb", "hb")
        ifindex = int(self.sh("cat /sys/class/net/ta/ifindex"))
        self.assertIn(("bpf_link", "hub_forward", ifindex), self.daemon_bpf(), "the forwarder on ta's tcx ingress")
        for netdev in ("nb", "hb", "na", "ha"):
            self.client.cmd("netdev_del", id=netdev)
        self.assertEqual(self.client.cmd("query-hubs"), [])
        left = [entry for entry in self.daemon_bpf() if entry[1].startswith("hub_")]
        self.assertEqual(left, [], "the hub's programs stay loaded")

    def test_the_kernel_forwards_while_vnetd_is_dead_and_a_restart_adopts_it(self):
        # The state dir's bpffs, mounted here so that it outlives every vnetd
        # of the test (setUp's vnetd mounted its own, and unmounts it on stopping).
        self.stop_daemon()
        self.client.close()
        bpf = os.path.join(self.work, "state", "bpf")
        os.makedirs(bpf, exist_ok=True)
        subprocess.run(["mount", "-t", "bpf", "bpf", bpf], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", bpf])
        self.start_daemon()
        self.add_guest("na", "ha")
        self.add_guest("nb", "hb")

        self.a_reaches_b(0, 10)
        self.daemon.kill()
        self.daemon.wait(20)
        self.client.close()
        self.a_reaches_b(10, 10)  # no vnetd: the kernel goes on
        if os.path.exists(os.path.join(self.work, "qmp.sock")):
            os.unlink(os.path.join(self.work, "qmp.sock"))
        self.start_daemon()
        hub = self.hub()
        self.assertEqual(hub["forwarding"], "kernel", hub)
        self.assertEqual((self.details("ha")["frames-in"], self.details("hb")["frames-out"]), (20, 20),
                         "the counters carried on through the restart")
        self.a_reaches_b(20, 10)
        self.assertEqual(self.details("na")["host-side"]["frames-from-guest"], 0)
        self.join_socket_port()
        self.assertEqual(self.hub()["forwarding"], "userspace")
        self.a_reaches_b(30, 1)
        self.assertEqual(self.details("na")["host-side"]["frames-from-guest"], 1, "the new host side carried it")
        for netdev in ("hs", "s1", "nb", "hb", "na", "ha"):
            self.client.cmd("netdev_del", id=netdev)
        pins = os.path.join(bpf, "hub_forward_v1")
        self.assertEqual(os.listdir(pins), [], "the hub's pins outlive it")

    def test_no_frame_is_lost_or_doubled_while_the_hub_switches(self):
        self.add_guest("na", "ha")
        self.add_guest("nb", "hb")
        total = 15000
        received = []
        done = threading.Event()

        def reader():
            while not done.is_set() or select.select([self.vmm["nb"]], [], [], 0.5)[0]:
                if not select.select([self.vmm["nb"]], [], [], 0.1)[0]:
                    continue
                try:
                    data = os.read(self.vmm["nb"], 70000)[len(VNET_HDR):]
                except BlockingIOError:
                    continue
                received.append(struct.unpack_from("!I", data, 14)[0])

        def writer():
            for seq in range(total):
                os.write(self.vmm["na"], VNET_HDR + frame(MACS["nb"], MACS["na"], seq))
                if seq % 32 == 31:
                    time.sleep(0.002)  # below what the reader keeps up with: loss would be the switch's

        threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
        for t in threads:
            t.start()
        switches = 0
        while threads[1].is_alive():
            self.join_socket_port()
            self.client.cmd("netdev_del", id="hs")
            self.client.cmd("netdev_del", id="s1")
            switches += 2
        threads[1].join()
        time.sleep(0.5)
        done.set()
        threads[0].join()
        print(f"{switches} switches", file=sys.stderr)
        self.assertGreaterEqual(switches, 10, "too few switches to mean anything")
        doubled = len(received) - len(set(received))
        lost = sorted(set(range(total)) - set(received))
        self.assertEqual((doubled, lost[:10], len(lost)), (0, [], 0), f"after {switches} switches")
        carried = self.details("na")["host-side"]["frames-from-guest"]
        self.assertGreater(carried, 0, "no frame went through userspace")
        self.assertLess(carried, total, "no frame went through the kernel")
        self.assertEqual(self.details("hb")["frames-out"], total)


if __name__ == "__main__":
    unittest.main(verbosity=2)
