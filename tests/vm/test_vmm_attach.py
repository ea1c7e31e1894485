#!/usr/bin/env python3
"""vmm-attach against a real Linux guest under QEMU 7.2 TCG (ctest vm_attach).

vnetd (in a network namespace of its own, vnetd_harness.start_vnetd) owns a tap
and a `nic` netdev; `vmm-attach` puts the NIC into a running QEMU and follows
the guest's rx filter. The guest is tests/vm's (Debian 6.12, busybox, iproute2),
driven over its serial console (guest.py). The host side of the tap lives in
vnetd's namespace: 198.51.100.1/24 there, 198.51.100.2/24 in the guest.

  HotplugSequence  one guest (-smp 2), a 2-queue tap: hotplug, the filter
                   mirrored, what it drops and passes, promiscuous mode,
                   multicast groups, vmm-detach. Steps in order (test_01...).
  HotplugOff       a second guest started with the tap's fd (-netdev tap,fd=N):
                   vmm-attach hotplug=false follows it; QEMU killed.
  Refusals         a QEMU with no guest (-S) and a NIC of its own: every
                   refused vmm-attach leaves nothing behind in QEMU or vnetd.
                   (Without a guest nothing acknowledges an unplug, so only
                   refusals and hotplug=false attaches are done there.)

Needs root, qemu-system-x86 and the guest kernel (tests/lab/fetch-kernel);
without them it fails saying what is missing. Python 3 standard library only.
"""
import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from vnetd_harness import TIMEOUT_SCALE, QmpClient, in_netns_of, start_vnetd  # noqa: E402
from guest import Guest, build_guest, find_qemu  # noqa: E402

HOST_IP, GUEST_IP = "198.51.100.1", "198.51.100.2"
TAP_IFNAME = "vm0"
MAC = "52:54:00:5e:00:01"
MAC_OFF = "52:54:00:5e:00:02"     # the hotplug=off guest's NIC
FOREIGN_MAC = "02:00:00:5e:0f:01"   # no one's: the filter must drop frames to it
SOURCE_MAC = "02:00:00:5e:0f:ee"    # what the test's frames come from
JOINED_GROUP = "01:00:5e:01:02:03"
NEIGHBOUR_GROUP = "01:00:5e:01:02:04"
PROBE_ETHERTYPE = 0x88B5            # IEEE local experimental: nothing in the guest answers it
FRAMES = 50

# How long vnetd may take to make its filter what QEMU reports (the brief's
# bound), and how long anything in the guest may take to happen at all.
AGREE_BOUND = 3.0
SETTLE = 10.0 * TIMEOUT_SCALE
ATTACH_TIMEOUT = 60.0 * TIMEOUT_SCALE   # vmm-attach answers after the hotplug and a first mirror
# Frames the guest may receive in a window where it should receive none of
# ours: the host refreshing its ARP entry for the guest (a unicast ARP request
# to the guest's own MAC, which the filter rightly passes) - one or two.
NOISE = 3


# -- the host side, in vnetd's network namespace

def in_netns(pid, *command, check=True):
    done = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *command], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"in vnetd's namespace, `{' '.join(command)}` failed ({done.returncode}): "
                             f"{done.stdout}{done.stderr}")
    return done


def packet_socket(pid, ifname):
    """An AF_PACKET socket bound to ifname in the namespace of process pid
    (the calling thread enters it for the socket() call only)."""
    with in_netns_of(pid):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(PROBE_ETHERTYPE))
        sock.bind((ifname, 0))
    return sock


def send_frames(sock, destination, count, tag):
    """count frames to destination from the tap's host side, that is, into the
    guest. Returns how many the tap refused at once: a tap whose filter drops a
    frame reports it (tun_net_xmit() -> NET_XMIT_DROP), which AF_PACKET turns
    into ENOBUFS; the frame was sent all the same."""
    refused = 0
    for i in range(count):
        payload = f"vm-tier {tag} {i}".encode().ljust(46, b".")
        try:
            sock.send(bytes.fromhex(destination.replace(":", "")) + bytes.fromhex(SOURCE_MAC.replace(":", "")) +
                      PROBE_ETHERTYPE.to_bytes(2, "big") + payload)
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            refused += 1
    return refused


# -- comparing the two filters

def normalized(reply, side):
    """One RxFilterInfo without its name; QEMU 7.2's broadcast-allowed is its
    nobcast flag, so it is turned into what it means."""
    if "return" not in reply or len(reply["return"]) != 1:
        raise AssertionError(f"{side}: query-rx-filter answered {reply}")
    info = dict(reply["return"][0])
    del info["name"]
    if side == "QEMU" and "broadcast-allowed" in info:
        info["broadcast-allowed"] = not info["broadcast-allowed"]
    return info


def comparable(value):
    """Tables in any order: QEMU lists the guest's MACs as the driver sent them."""
    return sorted(value) if isinstance(value, list) else value


def differences(qemu, vnetd):
    lines = []
    for key in sorted(set(qemu) | set(vnetd)):
        if qemu.get(key, "(absent)") != vnetd.get(key, "(absent)"):
            lines.append(f"  {key}: QEMU {json.dumps(qemu.get(key, '(absent)'))[:200]}, "
                         f"vnetd {json.dumps(vnetd.get(key, '(absent)'))[:200]}")
    return lines


class VmTestCase(unittest.TestCase):
    """What the three classes share: a vnetd per class, its host side, and checks."""

    nic = "n0"
    device = "n0"

    @classmethod
    def start_class_vnetd(cls):
        cls.work = tempfile.mkdtemp(prefix="vnt-vm-")
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        fixture = types.SimpleNamespace(addCleanup=cls.addClassCleanup)
        cls.daemon, cls.vnetd = start_vnetd(fixture, os.path.join(cls.work, "vnetd"))
        # No IPv6 on the host side: its router solicitations and MLD reports
        # would reach the filter and the guest and blur every count below.
        in_netns(cls.daemon.pid, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1")

    @classmethod
    def start_with_nic(cls, mac, queues=1):
        """The common start of a class: QEMU there, vnetd up, the guest's
        images built, a tap with a nic of this MAC."""
        cls.started = time.monotonic()
        find_qemu()
        cls.start_class_vnetd()
        cls.images = build_guest(os.path.join(cls.work, "images"))
        cls.add_tap_and_nic(mac, queues=queues)

    @classmethod
    def add_tap_and_nic(cls, mac, queues=1):
        cls.vnetd.cmd("netdev_add", type="tap", id="t0", ifname=TAP_IFNAME, queues=queues, vnet_hdr=True)
        cls.vnetd.cmd("netdev_add", type="nic", id=cls.nic, netdev="t0", macaddr=mac, model="virtio-net-pci")
        in_netns(cls.daemon.pid, "ip", "addr", "add", f"{HOST_IP}/24", "dev", TAP_IFNAME)
        in_netns(cls.daemon.pid, "ip", "link", "set", TAP_IFNAME, "up")

    @classmethod
    def boot(cls, name, **kwargs):
        guest = Guest(os.path.join(cls.work, name), cls.images, name=name, **kwargs)
        cls.addClassCleanup(guest.close)
        guest.start()
        seconds = guest.wait_ready()
        print(f"\n{name}: booted in {seconds:.1f}s", file=sys.stderr, flush=True)
        return guest

    # -- vnetd's side
    def vnetd_cmd(self, command, **arguments):
        reply = self.vnetd.execute(command, arguments or None, timeout=ATTACH_TIMEOUT)
        self.assertIn("return", reply, f"vnetd: {command} {arguments} answered {reply}\n{self.daemon.log()}")
        return reply["return"]

    def attachments(self):
        return self.vnetd_cmd("query-vmm-attachments")

    def netdev(self, netdev_id):
        found = [n for n in self.vnetd_cmd("query-netdevs") if n["id"] == netdev_id]
        return found[0] if found else None

    def filter_counters(self):
        details = self.netdev(self.nic)["details"]
        return details["rx-filter-passed"], details["rx-filter-dropped"]

    def vnetd_event(self, name, timeout=SETTLE):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.vnetd.sync()
            found = self.vnetd.take_events(name)
            if found:
                return found
            time.sleep(0.05)
        return []

    # -- both filters
    def filters(self, guest):
        qemu = normalized(guest.qmp.execute("query-rx-filter", {"name": self.device}), "QEMU")
        vnetd = normalized(self.vnetd.execute("query-rx-filter", {"name": self.nic}), "vnetd")
        return qemu, vnetd

    def wait_filters_agree(self, guest, what, expect=None):
        """Polls QEMU's and vnetd's query-rx-filter until they agree (and, with
        expect, QEMU's shows expect's members); returns the seconds it took."""
        started = time.monotonic()
        while True:
            qemu, vnetd = self.filters(guest)
            elapsed = time.monotonic() - started
            wanted = expect is None or all(comparable(qemu.get(k)) == comparable(v) for k, v in expect.items())
            if wanted and qemu == vnetd:
                print(f"{what}: vnetd's filter agreed with QEMU's after {elapsed * 1000:.0f} ms", file=sys.stderr,
                      flush=True)
                return elapsed
            if elapsed > max(AGREE_BOUND, SETTLE):
                if not wanted:
                    self.fail(f"{what}: QEMU's filter never showed {expect} within {elapsed:.1f}s: the guest did "
                              f"not program it (QEMU: {json.dumps(qemu)})" + guest.tail(1500))
                self.fail(f"{what}: vnetd's query-rx-filter {{name: {self.nic}}} still differs from QEMU's "
                          f"{{name: {self.device}}} after {elapsed:.1f}s (broadcast-allowed compared as its "
                          "meaning):\n" + "\n".join(differences(qemu, vnetd)) +
                          f"\nattachments: {self.attachments()}\nvnetd's log ends:\n{self.daemon.log(2000)}")
            time.sleep(0.02)

    def assert_agree_within_bound(self, guest, what, expect=None):
        elapsed = self.wait_filters_agree(guest, what, expect)
        self.assertLess(elapsed, AGREE_BOUND * TIMEOUT_SCALE,
                        f"{what}: vnetd took {elapsed:.2f}s to follow QEMU's filter (bound {AGREE_BOUND}s): "
                        "NIC_RX_FILTER_CHANGED is not acted on promptly")

    # -- the guest
    def rx_packets(self, guest):
        return guest.read_int("/sys/class/net/eth0/statistics/rx_packets")

    def wait_guest_rx(self, guest, at_least, what):
        deadline = time.monotonic() + SETTLE
        while True:
            now = self.rx_packets(guest)
            if now >= at_least or time.monotonic() > deadline:
                return now
            time.sleep(0.1)

    def wait_dropped(self, at_least):
        deadline = time.monotonic() + SETTLE
        while True:
            passed, dropped = self.filter_counters()
            if dropped >= at_least or time.monotonic() > deadline:
                return passed, dropped
            time.sleep(0.05)

    def wait_guest_eth0(self, guest, present=True):
        deadline = time.monotonic() + SETTLE
        while True:
            status, _ = guest.run("test -e /sys/class/net/eth0")
            if (status == 0) == present or time.monotonic() > deadline:
                return (status == 0) == present
            time.sleep(0.1)

    def configure_guest(self, guest):
        guest.check(f"ip addr add {GUEST_IP}/24 dev eth0 && ip link set eth0 up")

    def ping_guest(self, what):
        done = in_netns(self.daemon.pid, "busybox", "ping", "-c", "3", "-w", str(int(SETTLE)), GUEST_IP, check=False)
        self.assertEqual(done.returncode, 0, f"{what}: the host ({HOST_IP} on {TAP_IFNAME}) cannot ping the guest "
                                             f"({GUEST_IP}) through vnetd's tap:\n{done.stdout}{done.stderr}")

    def vnetctl(self, *args):
        vnetctl = os.environ.get("VNETCTL") or os.path.join(HERE, "..", "..", "build", "bin", "vnetctl")
        self.assertTrue(os.access(vnetctl, os.X_OK), f"no vnetctl at {vnetctl}: build it or set VNETCTL")
        return subprocess.run([vnetctl, "-s", self.daemon.socket_path, *args], capture_output=True, text=True,
                              timeout=ATTACH_TIMEOUT)

    def qemu_peripherals(self, guest):
        return {p["name"]: p["type"] for p in guest.qmp.cmd("qom-list", path="/machine/peripheral")
                if p["type"].startswith("child<")}

    def qemu_tap_fds(self, guest):
        """How many of QEMU's fds are taps (getfd'ed or in a netdev)."""
        count = 0
        for name in os.listdir(f"/proc/{guest.proc.pid}/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(f"/proc/{guest.proc.pid}/fd/{name}") == "/dev/net/tun"
        return count

    def qemu_netdevs(self, guest):
        """QEMU 7.2 has no query-netdev; HMP's `info network` lists them."""
        return guest.qmp.cmd("human-monitor-command", **{"command-line": "info network"})


class Steps:
    """Order within a class: a step that needs an earlier one fails at once,
    naming it, when that one did not pass."""

    def __init__(self):
        self.passed = set()

    @contextlib.contextmanager
    def step(self, test, name, needs=()):
        for need in needs:
            if need not in self.passed:
                test.fail(f"not run: it needs step '{need}', which failed (see above)")
        yield
        self.passed.add(name)


class HotplugSequence(VmTestCase):
    steps = Steps()

    @classmethod
    def setUpClass(cls):
        cls.start_with_nic(MAC, queues=2)
        cls.guest = cls.boot("hotplug-guest", smp=2)

    @classmethod
    def tearDownClass(cls):
        print(f"HotplugSequence: {time.monotonic() - cls.started:.1f}s in all", file=sys.stderr, flush=True)

    def test_01_attach_hotplugs_a_multiqueue_nic(self):
        with self.steps.step(self, "attach"):
            started = time.monotonic()
            self.vnetd_cmd("vmm-attach", nic=self.nic, qmp=self.guest.vnetd_qmp_path)
            print(f"vmm-attach (hotplug, 2 queues) answered after {time.monotonic() - started:.2f}s",
                  file=sys.stderr, flush=True)
            (attachment,) = self.attachments()
            self.assertEqual({k: attachment.get(k) for k in ("nic", "qmp", "device", "connected", "hotplug")},
                             {"nic": self.nic, "qmp": self.guest.vnetd_qmp_path, "device": self.device,
                              "connected": True, "hotplug": True}, f"query-vmm-attachments: {attachment}")
            self.assertEqual(self.qemu_peripherals(self.guest).get(self.device), "child<virtio-net-pci>",
                             "QEMU has no virtio-net-pci device with the nic's id after vmm-attach")
            path = f"/machine/peripheral/{self.device}"
            for prop, value in (("mac", MAC), ("mq", True), ("vectors", 6), ("netdev", f"vnetd-{self.nic}")):
                self.assertEqual(self.guest.qmp.cmd("qom-get", path=path, property=prop), value,
                                 f"QEMU's device {self.device}: property {prop} (2 queues: mq=on, vectors=2*2+2)")
            attached = time.monotonic()
            self.assertTrue(self.wait_guest_eth0(self.guest), "the hotplugged NIC never appeared in the guest as "
                            "eth0 (ACPI hotplug, virtio_net)" + self.guest.tail())
            print(f"eth0 in the guest {time.monotonic() - attached:.2f}s after vmm-attach answered",
                  file=sys.stderr, flush=True)
            self.assertEqual(self.guest.check("cat /sys/class/net/eth0/address").strip(), MAC,
                             "the guest's eth0 does not have the nic's MAC")
            queues = self.guest.check("ls /sys/class/net/eth0/queues").split()
            self.assertEqual(sorted(queues), ["rx-0", "rx-1", "tx-0", "tx-1"],
                             "the guest's eth0 should have 2 queue pairs (mq=on, -smp 2)")

    def test_02_filter_mirrored_after_eth0_up(self):
        with self.steps.step(self, "up", needs=["attach"]):
            self.configure_guest(self.guest)
            # A Linux guest with eth0 up: broadcasts on, 224.0.0.1's MAC in the table.
            self.assert_agree_within_bound(self.guest, "eth0 up",
                                           expect={"multicast-table": ["01:00:5e:00:00:01"]})
            # QEMU 7.2 reports its "nobcast" flag as broadcast-allowed: false for
            # a guest that receives broadcasts; vnetd reports the meaning.
            qemu_raw = self.guest.qmp.cmd("query-rx-filter", name=self.device)[0]["broadcast-allowed"]
            ours = self.vnetd_cmd("query-rx-filter", name=self.nic)[0]["broadcast-allowed"]
            self.assertEqual((qemu_raw, ours), (False, True),
                             "a Linux guest with eth0 up receives broadcasts: QEMU 7.2 shows broadcast-allowed "
                             "false (its nobcast flag), vnetd must show true")
            self.ping_guest("with the guest's filter mirrored")
            passed, _ = self.filter_counters()
            self.assertGreater(passed, 0, "the ping's ARP and echo requests reached the guest, yet vnetd's "
                                          "rx-filter-passed stayed 0: the filter is not the one on the tap")
            self.assertGreaterEqual(self.attachments()[0]["filter-updates"], 1,
                                    "query-vmm-attachments counts no filter update after eth0 came up")

    def assert_dropped_before_qemu(self, sock, destination, tag, what):
        """FRAMES frames to destination are counted by vnetd's filter as
        dropped, and the guest does not see them."""
        _, dropped_before = self.filter_counters()
        rx_before = self.rx_packets(self.guest)
        send_frames(sock, destination, FRAMES, tag)
        _, dropped = self.wait_dropped(dropped_before + FRAMES)
        self.assertGreaterEqual(dropped - dropped_before, FRAMES,
                                f"{FRAMES} frames to {destination} ({what}): vnetd's rx-filter-dropped grew by "
                                f"{dropped - dropped_before} only")
        self.assertLessEqual(dropped - dropped_before, FRAMES + NOISE, "more dropped than sent")
        time.sleep(0.5)  # had any passed, QEMU would have delivered it by now
        # QEMU's own receive_filter() would drop these too, so this only shows
        # the guest is not bothered; rx-filter-dropped above is what shows vnetd
        # dropped them before QEMU read them.
        grown = self.rx_packets(self.guest) - rx_before
        self.assertLessEqual(grown, NOISE, f"the guest received {grown} frames while only {FRAMES} frames to "
                                           f"{destination} ({what}) were sent: the filter let them through")

    def test_03_foreign_unicast_dropped_before_qemu(self):
        with self.steps.step(self, "foreign", needs=["up"]):
            sock = packet_socket(self.daemon.pid, TAP_IFNAME)
            self.addCleanup(sock.close)
            self.assert_dropped_before_qemu(sock, FOREIGN_MAC, "foreign", "in no table of the guest's")

    def test_04_promiscuous_guest_gets_them(self):
        with self.steps.step(self, "promisc", needs=["up"]):
            sock = packet_socket(self.daemon.pid, TAP_IFNAME)
            self.addCleanup(sock.close)
            self.guest.check("ip link set eth0 promisc on")
            self.assert_agree_within_bound(self.guest, "promisc on", expect={"promiscuous": True})
            self.assertTrue(self.filters(self.guest)[1]["promiscuous"], "vnetd's filter is not promiscuous")
            _, dropped_before = self.filter_counters()
            rx_before = self.rx_packets(self.guest)
            send_frames(sock, FOREIGN_MAC, FRAMES, "promisc")
            grown = self.wait_guest_rx(self.guest, rx_before + FRAMES, "promisc") - rx_before
            self.assertGreaterEqual(grown, FRAMES, f"promiscuous guest: only {grown} of {FRAMES} frames to "
                                                   f"{FOREIGN_MAC} arrived in the guest")
            self.assertEqual(self.filter_counters()[1], dropped_before, "vnetd dropped frames in promiscuous mode")
            self.guest.check("ip link set eth0 promisc off")
            self.assert_agree_within_bound(self.guest, "promisc off", expect={"promiscuous": False})

    def test_05_joined_multicast_group_passes_its_neighbour_not(self):
        with self.steps.step(self, "multicast", needs=["up"]):
            sock = packet_socket(self.daemon.pid, TAP_IFNAME)
            self.addCleanup(sock.close)
            self.guest.check(f"ip maddr add {JOINED_GROUP} dev eth0")
            self.assert_agree_within_bound(self.guest, f"ip maddr add {JOINED_GROUP}",
                                           expect={"multicast-table": ["01:00:5e:00:00:01", JOINED_GROUP]})
            rx_before = self.rx_packets(self.guest)
            send_frames(sock, JOINED_GROUP, FRAMES, "joined")
            grown = self.wait_guest_rx(self.guest, rx_before + FRAMES, "joined") - rx_before
            self.assertGreaterEqual(grown, FRAMES, f"{FRAMES} frames to the joined group {JOINED_GROUP}: only "
                                                   f"{grown} arrived in the guest")
            self.assert_dropped_before_qemu(sock, NEIGHBOUR_GROUP, "neighbour", "a group the guest did not join")

    def test_06_detach_removes_the_device(self):
        with self.steps.step(self, "detach", needs=["attach"]):
            started = time.monotonic()
            self.vnetd_cmd("vmm-detach", nic=self.nic)
            print(f"vmm-detach answered after {time.monotonic() - started:.2f}s", file=sys.stderr, flush=True)
            self.assertEqual(self.attachments(), [], "vmm-detach left the attachment listed")
            self.assertNotIn(self.device, self.qemu_peripherals(self.guest),
                             "vmm-detach left the device in QEMU (/machine/peripheral)")
            self.assertNotIn(f"vnetd-{self.nic}", self.qemu_netdevs(self.guest),
                             "vmm-detach left the netdev in QEMU (info network)")
            self.assertTrue(self.wait_guest_eth0(self.guest, present=False),
                            "eth0 is still in the guest after vmm-detach" + self.guest.tail(1500))
            self.assertIsNotNone(self.netdev("t0"), "vmm-detach took vnetd's tap with it")
            self.assertIsNotNone(self.netdev(self.nic), "vmm-detach took vnetd's nic with it")


class HotplugOff(VmTestCase):
    """QEMU started with the tap's fd and its own device; vnetd only follows."""
    steps = Steps()
    device = "nic0"

    @classmethod
    def setUpClass(cls):
        cls.start_with_nic(MAC_OFF)
        reply = cls.vnetd.execute("netdev-get-fds", {"id": "t0"})
        fds = cls.vnetd.take_received_fds()
        if reply != {"return": {"fds": [{"role": "tap", "queue": 0}]}} or len(fds) != 1:
            raise AssertionError(f"netdev-get-fds t0 answered {reply} with {len(fds)} fds")
        (fd,) = fds
        cls.addClassCleanup(os.close, fd)
        cls.guest = cls.boot("hotplug-off-guest", pass_fds=[fd], extra_args=[
            "-netdev", f"tap,id=hn0,fd={fd}", "-device", f"virtio-net-pci,netdev=hn0,id={cls.device},mac={MAC_OFF}"])

    @classmethod
    def tearDownClass(cls):
        print(f"HotplugOff: {time.monotonic() - cls.started:.1f}s in all", file=sys.stderr, flush=True)

    def test_01_attach_follows_an_existing_device(self):
        with self.steps.step(self, "attach"):
            self.assertTrue(self.wait_guest_eth0(self.guest), "the guest has no eth0 for QEMU's nic0")
            self.vnetd_cmd("vmm-attach", nic=self.nic, qmp=self.guest.vnetd_qmp_path, device=self.device,
                           hotplug=False)
            (attachment,) = self.attachments()
            self.assertEqual({k: attachment.get(k) for k in ("nic", "device", "connected", "hotplug")},
                             {"nic": self.nic, "device": self.device, "connected": True, "hotplug": False},
                             f"query-vmm-attachments: {attachment}")
            self.assertEqual(set(self.qemu_peripherals(self.guest)), {self.device},
                             "hotplug=false must not add anything to QEMU")

    def test_01b_cli_shows_the_attachment(self):
        with self.steps.step(self, "cli", needs=["attach"]):
            done = self.vnetctl("-j", "vmm", "show")
            self.assertEqual(done.returncode, 0, f"vnetctl -j vmm show: {done.stderr}")
            self.assertEqual(json.loads(done.stdout), self.attachments(), "vnetctl -j vmm show")

    def test_02_filter_followed_and_ping(self):
        with self.steps.step(self, "up", needs=["attach"]):
            self.configure_guest(self.guest)
            self.assert_agree_within_bound(self.guest, "hotplug=off, eth0 up",
                                           expect={"multicast-table": ["01:00:5e:00:00:01"]})
            self.ping_guest("hotplug=off")

    def test_03_qemu_killed_leaves_vnetd_and_the_tap(self):
        with self.steps.step(self, "killed", needs=["attach"]):
            self.vnetd.take_events()
            self.guest.kill()
            deadline = time.monotonic() + SETTLE
            while self.attachments()[0]["connected"] and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(self.daemon.alive(), "vnetd died with the VMM: " + self.daemon.describe_exit())
            (attachment,) = self.attachments()
            self.assertFalse(attachment["connected"], f"QEMU was killed, yet query-vmm-attachments says {attachment}")
            events = self.vnetd_event("VNET_VMM_DISCONNECTED")
            self.assertEqual([e["data"] for e in events], [{"nic": self.nic, "qmp": self.guest.vnetd_qmp_path}],
                             "no VNET_VMM_DISCONNECTED event for the killed QEMU")
            self.assertIsNotNone(self.netdev("t0"), "the tap left vnetd's query-netdevs with the VMM")
            in_netns(self.daemon.pid, "ip", "link", "show", TAP_IFNAME)
            # With the VMM gone, vmm-detach only forgets the attachment.
            self.vnetd_cmd("vmm-detach", nic=self.nic)
            self.assertEqual(self.attachments(), [])
            self.assertIsNotNone(self.netdev("t0"))


class NotQmp:
    """A UNIX socket server at path that is no QMP monitor: it greets every
    client with garbage, closes at once (garbage None), or says nothing and
    holds the connection (garbage b"")."""

    def __init__(self, path, garbage):
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.garbage = garbage
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                if self.garbage is not None:
                    with contextlib.suppress(OSError):
                        conn.sendall(self.garbage)
                        conn.recv(4096)  # until vnetd gives up on us

    def close(self):
        self.server.close()


class Refusals(VmTestCase):
    """Each refused vmm-attach answers QMP's error and leaves nothing in QEMU
    (its peripherals, its netdevs) or in vnetd (attachments, netdevs)."""

    @classmethod
    def setUpClass(cls):
        find_qemu()
        cls.start_class_vnetd()
        cls.add_tap_and_nic(MAC)
        # No guest (-S); QEMU's own NIC "existing", with no backend, holds an id.
        cls.qemu = Guest(os.path.join(cls.work, "bare-qemu"), None, name="bare QEMU",
                         extra_args=["-device", "virtio-net-pci,id=existing,mac=52:54:00:5e:00:99"])
        cls.addClassCleanup(cls.qemu.close)
        cls.qemu.start()

    def setUp(self):
        self.netdevs_before = self.vnetd_cmd("query-netdevs")
        self.peripherals_before = self.qemu_peripherals(self.qemu)
        self.tap_fds_before = self.qemu_tap_fds(self.qemu)

    def assert_refused(self, arguments, desc=None, contains=None):
        reply = self.vnetd.execute("vmm-attach", arguments, timeout=ATTACH_TIMEOUT)
        self.assertIn("error", reply, f"vmm-attach {arguments} should be refused; it answered {reply}")
        self.assertEqual(set(reply["error"]), {"class", "desc"}, f"reply: {reply}")
        self.assertEqual(reply["error"]["class"], "GenericError", f"reply: {reply}")
        if desc is not None:
            self.assertEqual(reply["error"]["desc"], desc, "QEMU's own text should come back")
        if contains is not None:
            self.assertIn(contains, reply["error"]["desc"])
        print(f"refused {arguments}: {reply['error']['desc']}", file=sys.stderr, flush=True)
        self.assert_nothing_left(arguments)
        return reply["error"]["desc"]

    def assert_nothing_left(self, what):
        self.assertEqual(self.attachments(), [], f"after the refused vmm-attach {what}, vnetd lists an attachment")
        self.assertEqual(self.vnetd_cmd("query-netdevs"), self.netdevs_before,
                         f"the refused vmm-attach {what} changed vnetd's netdevs")
        self.assertEqual(self.qemu_peripherals(self.qemu), self.peripherals_before,
                         f"the refused vmm-attach {what} left a device in QEMU")
        self.assertNotIn(f"vnetd-{self.nic}", self.qemu_netdevs(self.qemu),
                         f"the refused vmm-attach {what} left a netdev in QEMU")
        self.assertEqual(self.qemu_tap_fds(self.qemu), self.tap_fds_before,
                         f"the refused vmm-attach {what} left tap fds open in QEMU (getfd without closefd)")
        self.assertTrue(self.daemon.alive(), self.daemon.describe_exit())

    def test_missing_socket(self):
        path = os.path.join(self.work, "no-such.qmp")
        desc = self.assert_refused({"nic": self.nic, "qmp": path})
        self.assertIn(path, desc, "the error should name the socket it could not reach")

    def test_socket_that_speaks_garbage(self):
        path = os.path.join(self.work, "garbage.sock")
        server = NotQmp(path, b"this is not QMP\r\n\x00\xff{]\n")
        self.addCleanup(server.close)
        self.assert_refused({"nic": self.nic, "qmp": path})

    def test_socket_that_closes_at_once(self):
        path = os.path.join(self.work, "silent.sock")
        server = NotQmp(path, None)
        self.addCleanup(server.close)
        self.assert_refused({"nic": self.nic, "qmp": path})

    def test_socket_that_says_nothing(self):
        path = os.path.join(self.work, "mute.sock")
        server = NotQmp(path, b"")
        self.addCleanup(server.close)
        started = time.monotonic()
        self.vnetd.send("vmm-attach", {"nic": self.nic, "qmp": path})
        # vnetd waits for a greeting that never comes; meanwhile it serves others.
        other = QmpClient(self.daemon.socket_path)
        self.addCleanup(other.close)
        self.assertIn("qemu", other.cmd("query-version"), "vnetd stopped serving while a vmm-attach waited")
        served = time.monotonic() - started
        self.assertLess(served, 2.0 * TIMEOUT_SCALE, f"another client waited {served:.1f}s behind a vmm-attach")
        reply = self.vnetd.read_reply(ATTACH_TIMEOUT)
        self.assertIn("error", reply, f"vmm-attach to a socket that never greets answered {reply}")
        print(f"refused a mute socket after {time.monotonic() - started:.1f}s: {reply['error']['desc']}",
              file=sys.stderr, flush=True)
        self.assert_nothing_left({"qmp": path})

    def test_nic_already_attached(self):
        self.vnetd_cmd("vmm-attach", nic=self.nic, qmp=self.qemu.vnetd_qmp_path, device="existing", hotplug=False)
        self.addCleanup(self.vnetd.execute, "vmm-detach", {"nic": self.nic}, timeout=ATTACH_TIMEOUT)
        attached = self.attachments()
        self.assertEqual([a["nic"] for a in attached], [self.nic])
        reply = self.vnetd.execute("vmm-attach", {"nic": self.nic, "qmp": self.qemu.vnetd_qmp_path},
                                   timeout=ATTACH_TIMEOUT)
        self.assertIn("error", reply, f"a second vmm-attach of {self.nic} should be refused; it answered {reply}")
        print(f"refused a second attach: {reply['error']['desc']}", file=sys.stderr, flush=True)
        self.assertEqual(self.attachments(), attached, "the refused second attach changed the first")
        self.assertEqual(self.qemu_peripherals(self.qemu), self.peripherals_before,
                         "the refused second attach added a device to QEMU")
        self.assertNotIn(f"vnetd-{self.nic}", self.qemu_netdevs(self.qemu))
        self.vnetd_cmd("vmm-detach", nic=self.nic)
        self.assert_nothing_left("(after the detach)")

    def test_cli(self):
        path = self.qemu.vnetd_qmp_path
        done = self.vnetctl("vmm", "attach", self.nic, f"qmp={path}", "bus=no-such-bus")
        self.assertNotEqual(done.returncode, 0, "vnetctl vmm attach with a bad bus exited 0")
        self.assertIn("Bus 'no-such-bus' not found", done.stderr, "vnetctl should print QEMU's text")
        self.assert_nothing_left("(vnetctl, bad bus)")
        done = self.vnetctl("vmm", "attach", self.nic, f"qmp={path}", "device=existing", "hotplug=off")
        self.assertEqual(done.returncode, 0, f"vnetctl vmm attach ... hotplug=off: {done.stderr}")
        self.addCleanup(self.vnetd.execute, "vmm-detach", {"nic": self.nic}, timeout=ATTACH_TIMEOUT)
        shown = self.vnetctl("-j", "vmm", "show")
        self.assertEqual(json.loads(shown.stdout), self.attachments(), "vnetctl -j vmm show")
        self.assertEqual([(a["nic"], a["device"], a["hotplug"]) for a in self.attachments()],
                         [(self.nic, "existing", False)])
        done = self.vnetctl("vmm", "detach", self.nic)
        self.assertEqual(done.returncode, 0, f"vnetctl vmm detach: {done.stderr}")
        self.assert_nothing_left("(vnetctl, after detach)")

    def test_device_id_taken(self):
        self.assert_refused({"nic": self.nic, "qmp": self.qemu.vnetd_qmp_path, "device": "existing"},
                            desc="Duplicate device ID 'existing'")

    def test_bad_bus(self):
        self.assert_refused({"nic": self.nic, "qmp": self.qemu.vnetd_qmp_path, "bus": "no-such-bus"},
                            desc="Bus 'no-such-bus' not found")


if __name__ == "__main__":
    unittest.main()
