#!/usr/bin/env python3
"""tap and bridge netdevs on the real kernel, each test in its own network
namespace. State is read back from the kernel (sysfs, ip -j), never from
vnetd's own report alone."""
import array
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
import unittest

from netns_harness import NamespaceTestCase, QmpClient, run, sanitizer_environment, setns  # noqa: E402

TUNSETIFF = 0x400454CA
TUNGETIFF = 0x800454D2
TUNGETVNETHDRSZ = 0x800454D7
TUNSETOFFLOAD = 0x400454D0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100
PROBE = b"\x88\xb5"


class TapInNamespace(NamespaceTestCase):
    bridge_acl = "allow br0\ndeny br1\n"

    def setUp(self):
        super().setUp()
        self.sh("ip link add br0 type bridge; ip link set br0 mtu 1400 up; ip link add br1 type bridge")
        # Scripts run only from directories the daemon's [programs] allows.
        self.scripts = os.path.join(self.work, "scripts")
        os.mkdir(self.scripts, 0o755)
        config = os.path.join(self.work, "vnetd.toml")
        with open(config, "w") as f:
            f.write(f'[programs]\nscript-dirs = ["{self.scripts}"]\nscript-timeout-ms = 3000\n')
        self.start_daemon(extra_args=["--config", config])

    def links(self):
        return {l["ifname"]: l for l in json.loads(self.sh("ip -d -j link show"))}

    def wait_gone(self, ifname, timeout=5.0):
        deadline = time.monotonic() + timeout
        while ifname in self.links():
            self.assertLess(time.monotonic(), deadline, f"{ifname} still exists")
            time.sleep(0.02)

    def add(self, **arguments):
        return self.client.execute("netdev_add", arguments)

    def get_fds(self, netdev):
        roles = self.client.cmd("netdev-get-fds", id=netdev)["fds"]
        fds = self.client.take_received_fds()
        for fd in fds:
            self.addCleanup(os.close, fd)
        return roles, fds

    def vnetd_fd_count(self):
        return len(os.listdir(f"/proc/{self.daemon_pid()}/fd"))

    def tap_in_namespace(self, name):
        """A tap named name (bytes) made in the test's namespace, and its fd.
        tun makes the device in the namespace of whoever opens it: setns for
        this thread is simpler than a helper process."""
        ns_fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        self.addCleanup(os.close, ns_fd)
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.addCleanup(os.close, own)
        setns(ns_fd)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR)
            self.addCleanup(os.close, fd)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name, IFF_TAP | IFF_NO_PI))
        finally:
            setns(own)
        return fd

    def daemon_pid(self):
        # ip netns exec execs vnetd in place: the Popen pid is vnetd's.
        return self.daemon.pid

    # -- tests ------------------------------------------------------------

    def test_queue_counts_and_flags_read_back_from_the_kernel(self):
        for queues in (1, 2, 8):
            with self.subTest(queues=queues):
                name = f"mq{queues}"
                self.assertEqual(self.add(type="tap", id=name, ifname=name, queues=queues), {"return": {}})
                flags = int(self.sh(f"cat /sys/class/net/{name}/tun_flags"), 16)
                self.assertEqual(bool(flags & IFF_MULTI_QUEUE), queues > 1)
                self.assertTrue(flags & IFF_VNET_HDR)
                info = self.links()[name]["linkinfo"]["info_data"]
                self.assertEqual(info.get("numqueues", 1), queues)
                roles, fds = self.get_fds(name)
                self.assertEqual(roles, [{"role": "tap", "queue": i} for i in range(queues)])
                for fd in fds:
                    ifr = fcntl.ioctl(fd, TUNGETIFF, b"\0" * 40)
                    self.assertEqual(ifr[:16].rstrip(b"\0").decode(), name)
                    hdr = array.array("i", [0])
                    fcntl.ioctl(fd, TUNGETVNETHDRSZ, hdr)
                    self.assertEqual(hdr[0], 10)
                    fcntl.ioctl(fd, TUNSETOFFLOAD, 0x01)  # TUN_F_CSUM: offloads are settable by the VMM

    def test_bridge_membership_mtu_acl_and_link(self):
        self.assertEqual(self.add(type="bridge", id="b0", br="br0"), {"return": {}})
        self.assertEqual(self.add(type="tap", id="t1", ifname="vt1", br="br0"), {"return": {}})
        ports = {l["ifname"]: l for l in json.loads(self.sh("ip -j link show master br0"))}
        self.assertIn("vt1", ports)
        self.assertEqual(len(ports), 2)
        for port in ports.values():
            self.assertEqual(port["mtu"], 1400)
            self.assertIn("UP", port["flags"])
        for bad in ({"type": "bridge", "id": "b1", "br": "br1"}, {"type": "tap", "id": "t2", "br": "br1"},
                    {"type": "tap", "id": "t3", "br": "nosuch"}):
            with self.subTest(bad=bad):
                reply = self.client.execute("netdev_add", bad)
                self.assertIn("access denied by acl file", reply["error"]["desc"])
        self.assertEqual(json.loads(self.sh("ip -j link show master br1")), [])
        self.client.cmd("set_link", name="t1", up=False)
        link = self.links()["vt1"]
        self.assertNotIn("UP", link["flags"])
        self.assertEqual(self.sh("cat /sys/class/net/vt1/carrier 2>/dev/null || echo 0").strip() or "0", "0")
        self.assertFalse([n for n in self.client.cmd("query-netdevs") if n["id"] == "t1"][0]["link-up"])
        self.client.cmd("set_link", name="t1", up=True)
        self.assertIn("UP", self.links()["vt1"]["flags"])
        self.assertEqual(self.sh("cat /sys/class/net/vt1/carrier").strip(), "1")

    def test_frames_cross_the_received_fds_both_ways(self):
        self.client.cmd("netdev_add", type="tap", id="t0", ifname="vt0", queues=2)
        roles, fds = self.get_fds("t0")
        # The host side: an AF_PACKET socket on vt0, opened in the namespace.
        helper = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c", PACKET_HELPER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.addCleanup(helper.kill)
        # Bound before the first frame (a loaded machine takes its time).
        self.assertEqual(helper.stdout.readline().strip(), b"ready")
        frame = bytes.fromhex("0200000000aa" "0200000000bb") + PROBE + b"guest->host".ljust(46, b".")
        for fd in fds:
            os.write(fd, b"\0" * 10 + frame)  # a zero virtio-net header first
        seen = []
        for _ in fds:
            ready, _, _ = select.select([helper.stdout], [], [], 5.0)
            self.assertTrue(ready, f"a frame written into a queue fd never reached vt0 (got {len(seen)})")
            seen.append(helper.stdout.readline().strip())
        self.assertEqual(seen, [frame.hex().encode()] * len(fds))
        reply = bytes.fromhex("0200000000bb" "0200000000aa") + PROBE + b"host->guest".ljust(46, b".")
        helper.stdin.write(reply.hex().encode() + b"\n")
        helper.stdin.flush()
        ready, _, _ = select.select(fds, [], [], 2.0)
        self.assertTrue(ready, "the frame sent on the host side came out of no queue fd")
        got = os.read(ready[0], 65536)
        self.assertEqual(got[10:], reply)

    def test_fd_passed_with_getfd_and_an_existing_persistent_tap(self):
        pid = self.daemon_pid()
        fd = self.tap_in_namespace(b"mine0")
        reply = self.client.execute("getfd", {"fdname": "tapfd"}, fds=[fd])
        self.assertEqual(reply, {"return": {}})
        self.assertEqual(self.add(type="tap", id="passed", fd="tapfd"), {"return": {}})
        details = [n for n in self.client.cmd("query-netdevs") if n["id"] == "passed"][0]["details"]
        self.assertEqual(details["ifname"], "mine0")
        self.assertFalse(details["vnet-hdr"])
        self.assertIn("has not been found", self.add(type="tap", id="again", fd="tapfd")["error"]["desc"])
        self.assertEqual(pid, self.daemon_pid())

        self.sh("ip tuntap add dev keep0 mode tap")
        self.assertEqual(self.add(type="tap", id="k", ifname="keep0"), {"return": {}})
        self.assertIn("without IFF_MULTI_QUEUE", self.add(type="tap", id="k2", ifname="keep0", queues=2)["error"]["desc"])
        self.client.cmd("netdev_del", id="k")
        time.sleep(0.3)
        self.assertIn("keep0", self.links(), "netdev_del removed a tap vnetd did not create")

    def test_a_tap_whose_name_is_not_utf8_is_refused_not_fatal(self):
        """Linux allows any bytes in a name; QMP is text. A tap named b"fz\\xff"
        passed by fd= is refused with the reason, and vnetd lives on (it used
        to answer {} and abort when saving its state; issue 17, defect 2)."""
        fd = self.tap_in_namespace(b"fz\xff")
        self.assertEqual(self.client.execute("getfd", {"fdname": "odd"}, fds=[fd]), {"return": {}})
        reply = self.add(type="tap", id="odd", fd="odd")
        self.assertIn("not valid UTF-8", reply.get("error", {}).get("desc", ""), reply)
        time.sleep(0.2)  # a save would come at the end of the turn
        self.assertIsNone(self.daemon.poll(), "vnetd died")
        self.assertNotIn("odd", [n["id"] for n in self.client.cmd("query-netdevs")])
        # udev handing such a name over: refused by the CLI, with a status, not an abort.
        vnetctl = os.environ.get("VNETCTL") or os.path.join(os.path.dirname(os.environ.get("VNETD", "")), "vnetctl")
        if os.access(vnetctl, os.X_OK):
            env = {"PATH": os.environ.get("PATH", ""), "ACTION": "add", "SUBSYSTEM": "net",
                   "INTERFACE": "fz\udcff", "IFINDEX": "99999999999999999999", **sanitizer_environment()}
            done = subprocess.run([vnetctl, "-s", os.path.join(self.work, "qmp.sock"), "udev"],
                                  env={k: os.fsencode(v) for k, v in env.items()}, capture_output=True, text=True)
            self.assertEqual(done.returncode, 1, done.stderr)
            self.assertIn("not valid UTF-8", done.stderr)

    def test_one_netdev_per_tap_device(self):
        """A second netdev on the tap another one made would be left on a dead
        device when the first goes (QEMU allows it); refused (issue 17)."""
        self.assertEqual(self.add(type="tap", id="first", ifname="mq0", queues=2), {"return": {}})
        reply = self.add(type="tap", id="second", ifname="mq0", queues=2)
        self.assertIn("already netdev 'first'", reply.get("error", {}).get("desc", ""), reply)
        self.assertEqual([n["id"] for n in self.client.cmd("query-netdevs")], ["first"])
        self.client.cmd("netdev_del", id="first")
        self.wait_gone("mq0")
        self.assertEqual(self.add(type="tap", id="second", ifname="mq0", queues=2), {"return": {}})

    def test_a_readd_waiting_for_its_name_blocks_no_other_client(self):
        """Re-adding a tap whose delete is still tearing down (here a slow
        downscript) is answered once the old device is gone; meanwhile other
        clients are served at once (issue 17: nothing one client does may
        stall the daemon)."""
        slow = os.path.join(self.scripts, "slowdown")
        with open(slow, "w") as f:
            f.write("#!/bin/sh\nsleep 1.5\n")
        os.chmod(slow, 0o755)
        self.assertEqual(self.add(type="tap", id="w0", ifname="rw0", downscript=slow), {"return": {}})
        self.client.cmd("netdev_del", id="w0")
        started = time.monotonic()
        self.client.send("netdev_add", {"type": "tap", "id": "w1", "ifname": "rw0"})
        other = QmpClient(os.path.join(self.work, "qmp.sock"))
        self.addCleanup(other.close)
        for _ in range(5):
            asked = time.monotonic()
            self.assertIn("return", other.execute("query-version"))
            self.assertLess(time.monotonic() - asked, 0.5, "another client waited behind the re-add")
        self.assertLess(time.monotonic() - started, 1.0, "the other client's answers came after the teardown")
        self.assertEqual(self.client.read_reply(timeout=10), {"return": {}})
        self.assertGreater(time.monotonic() - started, 1.0, "answered before the old tap's downscript ended")
        self.assertEqual([n["id"] for n in self.client.cmd("query-netdevs")], ["w1"])

    def test_scripts_run_with_the_ifname(self):
        log = os.path.join(self.work, "script.log")
        for name in ("up", "down"):
            path = os.path.join(self.scripts, f"if{name}")
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\necho {name} $1 >> {log}\n")
            os.chmod(path, 0o755)
        self.client.cmd("netdev_add", type="tap", id="s", ifname="vs0", script=os.path.join(self.scripts, "ifup"),
                        downscript=os.path.join(self.scripts, "ifdown"))
        self.client.cmd("netdev_del", id="s")
        self.wait_gone("vs0")
        self.assertEqual(open(log).read().split("\n")[:2], ["up vs0", "down vs0"])
        failing = os.path.join(self.scripts, "fail")
        with open(failing, "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod(failing, 0o755)
        reply = self.add(type="tap", id="f", ifname="vf0", script=failing)
        self.assertIn("failed with status 3", reply["error"]["desc"])
        self.assertNotIn("vf0", self.links(), "a failed add left its tap behind")

    def test_an_up_script_blocks_no_other_client(self):
        """A tap's up-script runs off the daemon's loop (issue 16: a script
        that never exits blocked every client for 30 s): the add is answered
        when it ends, other clients are served meanwhile, the id and ifname
        are taken while it runs, and one that overruns is killed and its tap
        removed."""
        slow = os.path.join(self.scripts, "slowup")
        with open(slow, "w") as f:
            f.write("#!/bin/sh\nsleep 1.5\n")
        os.chmod(slow, 0o755)
        started = time.monotonic()
        self.client.send("netdev_add", {"type": "tap", "id": "u0", "ifname": "ru0", "script": slow})
        other = QmpClient(os.path.join(self.work, "qmp.sock"))
        self.addCleanup(other.close)
        for _ in range(5):
            asked = time.monotonic()
            self.assertIn("return", other.execute("query-version"))
            self.assertLess(time.monotonic() - asked, 0.5, "another client waited behind the up-script")
        self.assertIn("Duplicate ID 'u0'", other.execute("netdev_add", {"type": "tap", "id": "u0"})["error"]["desc"])
        self.assertIn("already netdev 'u0'",
                      other.execute("netdev_add", {"type": "tap", "id": "u1", "ifname": "ru0"})["error"]["desc"])
        self.assertEqual(other.cmd("query-netdevs"), [], "listed before its up-script ended")
        self.assertLess(time.monotonic() - started, 1.0, "the other client's answers came after the script")
        self.assertEqual(self.client.read_reply(timeout=10), {"return": {}})
        self.assertGreater(time.monotonic() - started, 1.4, "answered before the up-script ended")
        self.assertEqual([n["id"] for n in self.client.cmd("query-netdevs")], ["u0"])

        hung = os.path.join(self.scripts, "hung")
        log = os.path.join(self.work, "down.log")
        with open(hung, "w") as f:
            f.write("#!/bin/sh\nsleep 60\n")
        os.chmod(hung, 0o755)
        down = os.path.join(self.scripts, "down")
        with open(down, "w") as f:
            f.write(f"#!/bin/sh\necho $1 >> {log}\n")
        os.chmod(down, 0o755)
        started = time.monotonic()
        reply = self.add(type="tap", id="h0", ifname="rh0", script=hung, downscript=down)
        self.assertIn("did not finish within 3000 ms", reply["error"]["desc"], reply)
        self.assertLess(time.monotonic() - started, 10)
        self.assertNotIn("rh0", self.links(), "the tap of a timed-out up-script is left")
        self.assertFalse(os.path.exists(log), "the downscript ran for an add that failed")
        self.assertEqual([n["id"] for n in self.client.cmd("query-netdevs")], ["u0"])

    def test_vhost_without_vhost_net_is_a_clear_error(self):
        reply = self.add(type="tap", id="v", ifname="vv0", vhost=True)
        self.assertIn("/dev/vhost-net", reply["error"]["desc"])
        self.assertNotIn("vv0", self.links())

    def test_cycles_leave_no_fd_and_no_device_and_readd_works(self):
        self.client.cmd("query-netdevs")
        baseline = self.vnetd_fd_count()
        for i in range(200):
            self.client.send("netdev_add", {"type": "tap", "id": f"c{i}", "ifname": f"vc{i % 7}", "queues": 2})
            self.client.send("netdev_del", {"id": f"c{i}"})
        for _ in range(400):
            reply = self.client.read_reply()
            self.assertNotIn("error", reply, reply)
        deadline = time.monotonic() + 20
        while [l for l in self.links() if l.startswith("vc")] or self.vnetd_fd_count() != baseline:
            self.assertLess(time.monotonic(), deadline,
                            f"left behind: {[l for l in self.links() if l.startswith('vc')]}, "
                            f"fds {self.vnetd_fd_count()} vs {baseline}")
            time.sleep(0.05)

    def test_del_removes_created_taps_in_a_batch_even_while_a_vmm_holds_their_fds(self):
        names = [f"vb{i}" for i in range(40)]
        for i, name in enumerate(names):
            self.client.send("netdev_add", {"type": "tap", "id": f"b{i}", "ifname": name, "queues": 2})
        for _ in names:
            self.assertEqual(self.client.read_reply(), {"return": {}})
        _, held = self.get_fds("b0")  # as a VMM would hold them
        for i in range(len(names)):
            self.client.send("netdev_del", {"id": f"b{i}"})
        for _ in names:
            self.assertEqual(self.client.read_reply(), {"return": {}})
        deadline = time.monotonic() + 10
        while left := [n for n in self.links() if n in names]:
            self.assertLess(time.monotonic(), deadline, f"still there: {left}")
            time.sleep(0.05)
        # The device is gone under the VMM's fd, as after `ip link del`.
        with self.assertRaises(OSError):
            os.write(held[0], b"\0" * 10 + b"\xff" * 60)
        self.assertEqual(self.add(type="tap", id="again", ifname="vb0"), {"return": {}})


PACKET_HELPER = r'''
import os, select, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
s.bind(("vt0", 0))
print("ready", flush=True)
while True:
    r, _, _ = select.select([s, sys.stdin], [], [])
    if s in r:
        data, addr = s.recvfrom(65536)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        print(data.hex(), flush=True)
    if sys.stdin in r:
        line = sys.stdin.readline()
        if not line:
            break
        s.send(bytes.fromhex(line.strip()))
'''

if __name__ == "__main__":
    unittest.main()
