"""A real Linux guest on a nic's own tap, joined to a hub (issue 18; ctest vm_nic_on_hub).

    guest eth0 (virtio-net-pci) = QEMU -netdev tap,fd= (n0's tap, from netdev-get-fds)
        -- host side: vnetd's packet socket -- hn0 -hub 0- hu0 -- u0 (user: libslirp)

No bridge and no second tap: the guest takes a DHCP lease from vnetd's `user`
netdev through the hub, pings the slirp gateway, and sends a TCP stream that
vnetd cuts (the guest's TSO) for slirp. Anti-spoofing then holds on that path:
the guest's pings from an address it was not given go nowhere. Last, vnetd is
killed with SIGKILL and started again on the same state: the tap is still the
guest's, and its traffic resumes within a bound this test measures and prints.
Then vmm-attach hot-plugs a second nic on the hub (its own tap's fds handed to
QEMU with getfd), which takes a lease too. Last, a third nic on a second hub
whose other port is a tap facing the host: the kernel forwards, and the guest
pings the host with vnetd carrying none of its frames.

vnetd runs in a named network namespace of its own, which outlives it.
Needs root, qemu-system-x86 and the guest kernel; without them it fails
saying what is missing. Python 3 standard library only."""
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
from test_vhost_user_guest import SINK  # noqa: E402

MAC = "52:54:00:5e:00:21"
MAC2 = "52:54:00:5e:00:22"
MAC3 = "52:54:00:5e:00:23"
GATEWAY = "10.0.2.2"
RESUME_BOUND = 30.0 * TIMEOUT_SCALE  # the measured value is printed; this only catches "never"


class NicOnAHubGuest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        find_qemu()
        cls.work = tempfile.mkdtemp(prefix="vnt-vmnh-")
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        cls.fixture = types.SimpleNamespace(addCleanup=cls.addClassCleanup)
        # A named namespace: the guest's tap must outlive vnetd's SIGKILL (test 4).
        cls.netns = f"vnt-vmnh-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", cls.netns], check=True)
        cls.addClassCleanup(subprocess.run, ["ip", "netns", "del", cls.netns])
        subprocess.run(["ip", "netns", "exec", cls.netns, "ip", "link", "set", "lo", "up"], check=True)
        cls.daemon, cls.vnetd = start_vnetd(cls.fixture, os.path.join(cls.work, "vnetd"), own_netns=cls.netns)
        for netdev in ({"type": "user", "id": "u0"},
                       {"type": "hubport", "id": "hu0", "hubid": 0, "netdev": "u0"},
                       {"type": "hubport", "id": "hn0", "hubid": 0},
                       {"type": "nic", "id": "n0", "netdev": "hn0", "macaddr": MAC, "ifname": "vnhub0"}):
            cls.vnetd.cmd("netdev_add", **netdev)
        cls.vnetd.cmd("netdev-get-fds", id="n0")
        (tap_fd,) = cls.vnetd.take_received_fds()
        cls.images = build_guest(os.path.join(cls.work, "images"))
        cls.guest = Guest(os.path.join(cls.work, "guest"), cls.images, name="nic-on-hub-guest", pass_fds=[tap_fd],
                          extra_args=["-netdev", f"tap,id=n0,fd={tap_fd}",
                                      "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"])
        cls.addClassCleanup(cls.guest.close)
        cls.guest.start()
        os.close(tap_fd)  # QEMU has its own
        seconds = cls.guest.wait_ready()
        print(f"\nnic-on-hub guest: booted in {seconds:.1f}s", file=sys.stderr, flush=True)

    def details(self):
        return [n for n in self.vnetd.cmd("query-netdevs") if n["id"] == "n0"][0]["details"]

    def test_1_dhcp_and_ping_through_the_hub(self):
        type(self).address = self.guest.dhcp("eth0", GATEWAY)
        self.guest.check(f"ping -c 3 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        details = self.details()
        self.assertTrue(details["guest-tap"])
        self.assertGreater(details["host-side"]["frames-from-guest"], 0, details)
        self.assertGreater(details["host-side"]["frames-to-guest"], 0, details)

    def test_2_a_guests_tcp_stream_is_cut_by_vnetd(self):
        size = 2 << 20
        sink = subprocess.Popen(["nsenter", f"--net=/proc/{self.daemon.pid}/ns/net", sys.executable, "-c", SINK,
                                 str(size)], stdout=subprocess.PIPE, text=True)
        self.addCleanup(sink.stdout.close)
        self.addCleanup(sink.kill)
        self.assertEqual(sink.stdout.readline().strip(), "listening")
        self.guest.check(f"dd if=/dev/zero bs=1024 count={size // 1024} 2>/dev/null | nc {GATEWAY} 5555",
                         timeout=120 * TIMEOUT_SCALE)
        self.assertEqual(sink.stdout.readline().strip(), f"received {size}")
        host_side = self.details()["host-side"]
        self.assertEqual(host_side["drops-bad-offload"], 0, host_side)
        print(f"\nnic-on-hub guest: {size} bytes over TCP, {host_side['frames-segmented']} TSO frames cut by vnetd",
              file=sys.stderr, flush=True)

    def test_3_anti_spoofing_holds_on_the_hub_path(self):
        self.vnetd.cmd("set-anti-spoof", name="n0", enable=True, **{"allowed-ips": [f"{self.address}/32"]})
        self.guest.check(f"ping -c 1 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        before = self.details()["spoof-drops"]
        self.guest.check("ip addr add 10.0.2.99/24 dev eth0")
        status, _ = self.guest.run(f"ping -c 2 -W 2 -I 10.0.2.99 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        self.assertNotEqual(status, 0, "pings from an address the guest was not given got answers")
        self.assertGreaterEqual(self.details()["spoof-drops"], before + 2)
        self.guest.check("ip addr del 10.0.2.99/24 dev eth0")
        self.guest.check(f"ping -c 1 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)

    def test_4_traffic_resumes_after_vnetd_is_killed(self):
        self.guest.check(f"ping -c 1 -W 5 {GATEWAY}", timeout=60 * TIMEOUT_SCALE)
        resumed = kill_vnetd_until_pings_resume(self, GATEWAY, RESUME_BOUND)
        print(f"\nnic-on-hub guest: traffic resumed {resumed:.1f}s after vnetd's SIGKILL", file=sys.stderr, flush=True)
        details = self.details()
        self.assertTrue(details["guest-tap"])
        self.assertEqual(details["anti-spoof"], True, "anti-spoofing came back with the restart")

    def test_5_vmm_attach_hands_a_hub_nics_own_tap_to_qemu(self):
        self.vnetd.cmd("netdev_add", type="hubport", id="hn1", hubid=0)
        self.vnetd.cmd("netdev_add", type="nic", id="n1", netdev="hn1", macaddr=MAC2)
        reply = self.vnetd.execute("vmm-attach", {"nic": "n1", "qmp": self.guest.vnetd_qmp_path},
                                   timeout=60 * TIMEOUT_SCALE)
        self.assertIn("return", reply, reply)
        deadline = time.monotonic() + 60 * TIMEOUT_SCALE
        while "eth1" not in self.guest.check("ls /sys/class/net"):
            self.assertLess(time.monotonic(), deadline, "no eth1 in the guest after vmm-attach")
            time.sleep(0.5)
        self.assertTrue(self.guest.dhcp("eth1").startswith("10.0.2."), "the hot-plugged NIC's lease")
        n1 = [n for n in self.vnetd.cmd("query-netdevs") if n["id"] == "n1"][0]["details"]
        self.assertGreater(n1["host-side"]["frames-to-guest"], 0, n1)

    def test_6_a_guest_reaches_the_host_through_a_kernel_hub(self):
        # Hub 1: the guest's third NIC (hot-plugged) and a tap netdev facing
        # the host; both kernel devices, so the kernel forwards.
        in_ns = ["ip", "netns", "exec", self.netns]
        self.vnetd.cmd("netdev_add", type="tap", id="t2", ifname="vnhost2", script="no", downscript="no")
        self.vnetd.cmd("netdev_add", type="hubport", id="ht2", hubid=1, netdev="t2")
        subprocess.run(in_ns + ["ip", "addr", "add", "10.0.7.1/24", "dev", "vnhost2"], check=True)
        subprocess.run(in_ns + ["ip", "link", "set", "vnhost2", "up"], check=True)
        self.vnetd.cmd("netdev_add", type="hubport", id="hn2", hubid=1)
        self.vnetd.cmd("netdev_add", type="nic", id="n2", netdev="hn2", macaddr=MAC3)
        hub = [h for h in self.vnetd.cmd("query-hubs") if h["hubid"] == 1][0]
        self.assertEqual(hub["forwarding"], "kernel", hub)
        # Plugged by the test on its own QMP socket (vnetd's is the vmm-attach of test 5's).
        self.vnetd.cmd("netdev-get-fds", id="n2")
        (tap_fd,) = self.vnetd.take_received_fds()
        qmp = self.guest.qmp
        for command, arguments, fds in (("getfd", {"fdname": "n2tap"}, [tap_fd]),
                                        ("netdev_add", {"type": "tap", "id": "n2", "fd": "n2tap"}, []),
                                        ("device_add", {"driver": "virtio-net-pci", "netdev": "n2", "mac": MAC3,
                                                        "id": "nic2"}, [])):
            qmp.send(command, arguments, fds=fds)
            reply = qmp.read_reply(timeout=60 * TIMEOUT_SCALE)
            self.assertIn("return", reply, (command, reply))
        os.close(tap_fd)
        deadline = time.monotonic() + 60 * TIMEOUT_SCALE
        while "eth2" not in self.guest.check("ls /sys/class/net"):
            self.assertLess(time.monotonic(), deadline, "no eth2 in the guest after vmm-attach")
            time.sleep(0.5)
        self.guest.check("ip addr add 10.0.7.2/24 dev eth2 && ip link set eth2 up")
        self.guest.check("ping -c 3 -W 5 10.0.7.1", timeout=60 * TIMEOUT_SCALE)
        n2 = [n for n in self.vnetd.cmd("query-netdevs") if n["id"] == "n2"][0]["details"]
        self.assertEqual(n2["host-side"]["frames-from-guest"], 0, "vnetd carried the guest's frames")
        ports = {n["id"]: n["details"] for n in self.vnetd.cmd("query-netdevs") if n["id"] in ("hn2", "ht2")}
        self.assertGreaterEqual(ports["hn2"]["frames-in"], 3, ports)
        self.assertGreaterEqual(ports["ht2"]["frames-in"], 3, ports)
        print(f"\nnic-on-hub guest: pinged the host through a kernel hub ({ports['hn2']['frames-in']} frames in)",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
