#!/usr/bin/env python3
"""Taps made in other network namespaces (issue 19, netns=), as a CNI runtime
asks for them: vnetd runs in the test's namespace, the "pods" are namespaces
of their own (/run/netns/NAME, /proc/PID/ns/net), each with an eth0.

What must hold: the device is made in the pod's namespace (not vnetd's),
with the MTU and MAC asked for, up; its queue fds carry frames there; many
pods each hold an eth0 at once; netdev_del removes it from the pod; a pod
namespace that goes takes its netdev with it and vnetd keeps no reference
to it; a restarted vnetd re-adopts the tap, and drops it if its namespace
went while vnetd was down; bad requests change nothing."""
import fcntl
import json
import os
import signal
import subprocess
import time
import unittest

from netns_harness import NamespaceTestCase, QmpClient, entered, packet_socket, run, vnetd_binary, watch_stderr_log  # noqa: E402

TUNGETIFF = 0x800454D2
TUNSETIFF = 0x400454CA
ATTACHMENT = {"network": "podnet", "container-id": "c0ffee", "ifname": "eth0", "data": {"ipam": {"ips": ["10.1.0.2/24"]}}}


class TapInOtherNamespace(NamespaceTestCase):
    bridge_acl = "allow br0\nallow podbr\n"

    def setUp(self):
        super().setUp()
        self.pods = []
        self.state = os.path.join(self.work, "state")
        self.sock = os.path.join(self.work, "qmp.sock")
        self.vnetd = None
        self.addCleanup(self.kill_vnetd)

    # -- vnetd, started and killed by hand (restart cases)

    def launch(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        log = os.path.join(self.work, "vnetd.stderr")
        watch_stderr_log(self, log)
        with open(log, "ab") as stderr:
            self.vnetd = subprocess.Popen(["ip", "netns", "exec", self.ns, vnetd_binary(), "--socket", self.sock,
                                           "--state-dir", self.state, "--bridge-acl", self.acl], stderr=stderr)
        for _ in range(500):
            if os.path.exists(self.sock):
                break
            time.sleep(0.01)
        self.client = QmpClient(self.sock)
        self.addCleanup(self.client.close)

    def kill_vnetd(self, sig=signal.SIGTERM):
        if self.vnetd and self.vnetd.poll() is None:
            self.vnetd.send_signal(sig)
            self.vnetd.wait(20)

    # -- pods

    def pod(self, name):
        path = f"/run/netns/{self.ns}-{name}"
        run("ip", "netns", "add", os.path.basename(path))
        self.addCleanup(run, "ip", "netns", "del", os.path.basename(path), check=False)
        return path

    def in_pod(self, path, command):
        return run("ip", "netns", "exec", os.path.basename(path), "sh", "-c", command, check=False)

    def link(self, path, ifname="eth0"):
        shown = self.in_pod(path, f"ip -j link show dev {ifname}")
        return json.loads(shown.stdout)[0] if shown.returncode == 0 else None

    def add_tap(self, id, netns, **options):
        return self.client.execute("netdev_add", dict(type="tap", id=id, ifname="eth0", netns=netns, **options))

    def netns_fds_of_vnetd(self, path=None, ns=None):
        """vnetd's fds open on the namespace (its nsfs file, by inode: the
        link's text is the path it was opened by)."""
        ns = ns or os.stat(path)
        fd_dir = f"/proc/{self.vnetd.pid}/fd"
        held = []
        for fd in os.listdir(fd_dir):
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino):
                held.append(fd)
        return held

    def wait_gone(self, id, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n["id"] != id for n in self.client.cmd("query-netdevs")):
                return True
            time.sleep(0.05)
        return False

    # -- the cases

    def test_the_tap_is_made_in_the_pod_with_its_mtu_mac_and_attachment(self):
        self.launch()
        pod = self.pod("a")
        reply = self.add_tap("t0", pod, mtu=1400, mac="02:00:00:aa:bb:01", queues=2, attachment=ATTACHMENT)
        self.assertIn("return", reply, reply)
        link = self.link(pod)
        self.assertIsNotNone(link, "no eth0 in the pod")
        self.assertEqual((link["mtu"], link["address"]), (1400, "02:00:00:aa:bb:01"))
        self.assertIn("UP", link["flags"])
        self.assertNotIn("eth0", self.sh("ip -o link show"), "the tap is in vnetd's namespace too")
        details = self.client.cmd("query-netdevs", id="t0")[0]["details"]
        self.assertEqual(details["netns"], pod)
        self.assertEqual(details["ifindex"], link["ifindex"])
        self.assertEqual((details["mac"], details["mtu"], details["queues"]), ("02:00:00:aa:bb:01", 1400, 2))
        self.assertEqual(details["attachment"], ATTACHMENT)
        self.assertEqual(details["netns-inode"], os.stat(pod).st_ino)

        # Its queue fds, as a VMM gets them, are the pod's eth0: a frame
        # written into one comes out of eth0 there.
        self.client.cmd("netdev-get-fds", id="t0")
        fds = self.client.take_received_fds()
        for fd in fds:
            self.addCleanup(os.close, fd)
        self.assertEqual(len(fds), 2)
        name = fcntl.ioctl(fds[0], TUNGETIFF, bytes(40))[:16].rstrip(b"\0")
        self.assertEqual(name, b"eth0")
        listener = self.packet_socket_in(pod, "eth0")
        frame = bytes.fromhex("ffffffffffff" "020000aabb01" "88b5") + b"from the guest".ljust(50, b".")
        os.write(fds[1], bytes(10) + frame)  # behind a zero virtio-net header
        listener.settimeout(2)
        self.assertEqual(listener.recv(2048), frame)

        self.client.cmd("netdev_del", id="t0")
        self.assertTrue(self.wait_link_gone(pod), "eth0 is still in the pod after netdev_del")

    def packet_socket_in(self, path, ifname):
        s = packet_socket(path, ifname, 0x88B5)
        self.addCleanup(s.close)
        return s

    def wait_link_gone(self, path, ifname="eth0", timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.link(path, ifname) is None:
                return True
            time.sleep(0.02)
        return False

    def test_many_pods_each_hold_an_eth0_and_a_name_is_reused_at_once(self):
        self.launch()
        pods = [self.pod(str(i)) for i in range(4)]
        for i, pod in enumerate(pods[:3]):
            self.assertIn("return", self.add_tap(f"t{i}", pod))
        for pod in pods[:3]:
            self.assertIsNotNone(self.link(pod), pod)
        # DEL in one pod and ADD of the same name in another right after,
        # and in the same pod again right after.
        self.client.cmd("netdev_del", id="t0")
        self.assertIn("return", self.add_tap("t3", pods[3]))
        self.assertIn("return", self.add_tap("t0", pods[0]))
        for i, pod in enumerate(pods):
            link = self.link(pod)
            self.assertIsNotNone(link, pod)
            details = self.client.cmd("query-netdevs", id=f"t{i}")[0]["details"]
            self.assertEqual((details["netns"], details["ifindex"]), (pod, link["ifindex"]))
        # A second eth0 in one pod is refused, and changes nothing.
        reply = self.add_tap("t9", pods[1])
        self.assertEqual(reply["error"]["class"], "GenericError")
        self.assertIn(f"\"eth0\" exists in netns '{pods[1]}'", reply["error"]["desc"])
        self.assertEqual(len(self.client.cmd("query-netdevs")), 4)
        self.assertEqual(self.link(pods[1])["ifindex"],
                         self.client.cmd("query-netdevs", id="t1")[0]["details"]["ifindex"])

    def test_a_pod_namespace_that_goes_takes_its_netdev_and_vnetd_lets_it_go(self):
        self.launch()
        pod = self.pod("gone")
        kept = self.pod("kept")
        self.assertIn("return", self.add_tap("t0", pod, queues=4))
        self.assertIn("return", self.add_tap("t1", kept))
        self.assertTrue(self.netns_fds_of_vnetd(pod))
        ns = os.stat(pod)
        run("ip", "netns", "del", os.path.basename(pod))
        # Its name's removal is seen at once (inotify), well before the
        # mount-table check (NetnsWatch::kMountCheckDelayMs, 2 s) would.
        self.assertTrue(self.wait_gone("t0", timeout=1.5), "the netdev outlived its namespace")
        self.assertEqual([e["data"]["id"] for e in self.client.take_events("VNET_NETDEV_DELETED")], ["t0"])
        # Nothing of vnetd's keeps the namespace (and so its eth0) alive.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            held = self.netns_fds_of_vnetd(ns=ns)
            if not held:
                break
            time.sleep(0.05)
        self.assertEqual(held, [], "vnetd still holds the namespace")
        self.assertEqual([n["id"] for n in self.client.cmd("query-netdevs")], ["t1"])
        self.assertIsNotNone(self.link(kept))

    def test_a_namespace_only_unmounted_is_found_by_the_mount_table(self):
        self.launch()
        pod = self.pod("unmounted")
        self.assertIn("return", self.add_tap("t0", pod))
        # Lazily, as `ip netns del` does (vnetd holds it open); the file stays.
        unmounted = run("umount", "-l", pod, check=False)
        self.assertEqual(unmounted.returncode, 0, unmounted.stderr)
        self.assertTrue(self.wait_gone("t0", timeout=6), "the netdev outlived its namespace's mount")

    def test_a_namespace_named_by_its_process_goes_with_the_process(self):
        self.launch()
        holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
        self.addCleanup(holder.kill)
        path = f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 5
        while os.stat(path).st_ino == os.stat("/proc/self/ns/net").st_ino and time.monotonic() < deadline:
            time.sleep(0.01)  # until unshare has run
        self.assertIn("return", self.add_tap("t0", path))
        holder.kill()
        holder.wait()
        self.assertTrue(self.wait_gone("t0", timeout=3), "the netdev outlived its namespace's process")

    def test_a_restarted_vnetd_re_adopts_the_tap_and_drops_one_whose_namespace_went(self):
        self.launch()
        pod = self.pod("stays")
        gone = self.pod("goes")
        self.assertIn("return", self.add_tap("t0", pod, attachment=ATTACHMENT))
        self.assertIn("return", self.add_tap("t1", gone))
        ifindex = self.link(pod)["ifindex"]
        self.kill_vnetd(signal.SIGKILL)
        # The taps are persistent: they stay in their pods while no vnetd runs.
        self.assertEqual(self.link(pod)["ifindex"], ifindex)
        run("ip", "netns", "del", os.path.basename(gone))
        self.launch()
        netdevs = self.client.cmd("query-netdevs")
        self.assertEqual([n["id"] for n in netdevs], ["t0"])
        self.assertEqual(netdevs[0]["details"]["ifindex"], ifindex)
        self.assertEqual(netdevs[0]["details"]["attachment"], ATTACHMENT)
        self.assertEqual(netdevs[0]["details"]["queue-fds"], 1)
        self.client.cmd("netdev_del", id="t0")
        self.assertTrue(self.wait_link_gone(pod))

    def fifo(self):
        path = os.path.join(self.work, "fifo")
        os.mkfifo(path)
        return path

    def test_bad_requests_change_nothing(self):
        self.launch()
        pod = self.pod("bad")
        cases = [
            (dict(netns="/run/netns/no-such-pod-here"), "netns '/run/netns/no-such-pod-here': No such file or directory"),
            (dict(netns="/etc/hostname"), "netns '/etc/hostname': not a namespace"),
            (dict(netns=self.fifo()), "not a namespace"),  # never opened: it would block vnetd
            (dict(netns=pod, mtu=40), "mtu=40 is out of range"),
            (dict(netns=pod, mac="ff:ff:ff:ff:ff:ff"), "is a multicast address"),
            (dict(netns=pod, script="/bin/true"), "netns= is invalid with script="),
            (dict(netns="pods/a"), "is not an absolute path"),
        ]
        for options, text in cases:
            reply = self.client.execute("netdev_add", dict(type="tap", id="t0", ifname="eth0", **options))
            self.assertEqual(reply.get("error", {}).get("class"), "GenericError", (options, reply))
            self.assertIn(text, reply["error"]["desc"], options)
        self.assertEqual(self.client.cmd("query-netdevs"), [])
        self.assertIsNone(self.link(pod))
        self.assertEqual(self.netns_fds_of_vnetd(pod), [])

    def test_anti_spoofing_and_the_rx_filter_follow_the_tap_into_the_pod(self):
        self.launch()
        pod = self.pod("guarded")
        self.assertIn("return", self.add_tap("t0", pod, vnet_hdr=False))
        self.client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr="52:54:00:12:34:56")
        self.client.cmd("set-anti-spoof", name="n0", enable=True, **{"allowed-ips": ["10.1.0.2/32"]})
        self.client.cmd("netdev-get-fds", id="t0")
        fds = self.client.take_received_fds()
        for fd in fds:
            self.addCleanup(os.close, fd)
        listener = self.packet_socket_in(pod, "eth0")
        listener.settimeout(0.5)
        own = bytes.fromhex("ffffffffffff" "525400123456" "88b5") + b"own".ljust(50, b".")
        forged = bytes.fromhex("ffffffffffff" "525400666666" "88b5") + b"forged".ljust(50, b".")
        os.write(fds[0], forged)
        os.write(fds[0], own)
        self.assertEqual(listener.recv(2048), own)
        with self.assertRaises(TimeoutError):
            listener.recv(2048)
        self.assertEqual(self.client.cmd("query-netdevs", id="n0")[0]["details"]["spoof-drops"], 1)
        # The guest's rx filter (on the queue fd) drops a unicast frame to
        # another MAC coming from the pod's side.
        strict = {"promiscuous": False, "multicast": "normal", "unicast": "normal", "vlan": "all",
                  "broadcast-allowed": False, "multicast-overflow": False, "unicast-overflow": False,
                  "main-mac": "52:54:00:12:34:56", "vlan-table": [], "unicast-table": [], "multicast-table": []}
        self.client.cmd("set-rx-filter", name="n0", **strict)
        self.assertTrue(self.client.cmd("query-netdevs", id="n0")[0]["details"]["rx-filter-enforced"])
        sender = self.packet_socket_in(pod, "eth0")
        other = bytes.fromhex("525400777777" "020000000001" "88b5") + b"not for the guest".ljust(50, b".")
        mine = bytes.fromhex("525400123456" "020000000001" "88b5") + b"for the guest".ljust(50, b".")
        try:
            sender.send(other)
        except OSError as e:  # tun tells the sender of a frame its filter dropped (noqueue: ENOBUFS)
            self.assertEqual(e.errno, 105)
        sender.send(mine)
        deadline = time.monotonic() + 2
        got = []
        os.set_blocking(fds[0], False)
        while time.monotonic() < deadline and mine not in got:
            try:
                got.append(os.read(fds[0], 2048))
            except BlockingIOError:
                time.sleep(0.01)
        self.assertIn(mine, got)
        self.assertNotIn(other, got)
        # Deleting the nic takes anti-spoofing off the pod's tap.
        self.client.cmd("netdev_del", id="n0")
        os.write(fds[0], forged)
        self.assertEqual(listener.recv(2048), forged)

    def open_by_name_as(self, uid, pod, queues, flags):
        """A child in the pod's namespace, as uid without capabilities, opens
        the pod's eth0 by name `queues` times (TUNSETIFF) and holds the fds
        until the returned release() is called; errors are raised here."""
        ready_r, ready_w = os.pipe()
        done_r, done_w = os.pipe()
        # The child stays inside the with: leaving it would take it back out.
        with entered(pod):
            pid = os.fork()
            if pid == 0:
                os.close(ready_r)
                os.close(done_w)
                message = b"ok"
                try:
                    os.setgroups([])
                    os.setgid(uid)
                    held = []
                    os.setuid(uid)
                    for _ in range(queues):
                        fd = os.open("/dev/net/tun", os.O_RDWR)
                        fcntl.ioctl(fd, TUNSETIFF, b"eth0".ljust(16, b"\0") + flags.to_bytes(2, "little") + bytes(22))
                        held.append(fd)
                except OSError as e:
                    message = f"queue {len(held)}: {e}".encode()
                os.write(ready_w, message)
                os.read(done_r, 1)
                os._exit(0)
        os.close(ready_w)
        os.close(done_r)
        answer = os.read(ready_r, 1024)
        os.close(ready_r)

        def release():
            os.close(done_w)
            os.waitpid(pid, 0)
        if answer != b"ok":
            release()
            raise AssertionError(f"as uid {uid}, TUNSETIFF of eth0: {answer.decode()}")
        return release

    def tun_queues(self, pod):
        shown = json.loads(self.in_pod(pod, "ip -d -j link show dev eth0").stdout)[0]
        return shown["linkinfo"]["info_data"].get("numqueues")

    def test_with_hold_queues_false_an_unprivileged_vmm_opens_every_queue_by_name(self):
        self.launch()
        IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x2, 0x1000, 0x4000, 0x100
        for queues in (1, 2):
            pod = self.pod(f"byname{queues}")
            id = f"t{queues}"
            reply = self.add_tap(id, pod, queues=queues, owner=4242, **{"hold-queues": False})
            self.assertIn("return", reply, reply)
            details = self.client.cmd("query-netdevs", id=id)[0]["details"]
            self.assertEqual((details["queue-fds"], details["hold-queues"]), (0, False))
            reply = self.client.execute("netdev-get-fds", {"id": id})
            self.assertIn("hold-queues=false", reply["error"]["desc"])
            flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (IFF_MULTI_QUEUE if queues > 1 else 0)
            release = self.open_by_name_as(4242, pod, queues, flags)
            try:
                if queues > 1:
                    self.assertEqual(self.tun_queues(pod), queues, "vnetd's own queues are still attached")
            finally:
                release()
        # Without an owner or group nobody but root could open it: refused.
        reply = self.add_tap("t9", self.pod("noowner"), **{"hold-queues": False})
        self.assertIn("needs owner= or group=", reply["error"]["desc"])
        # A restart does not open the queues again.
        self.kill_vnetd(signal.SIGKILL)
        self.launch()
        self.assertEqual(self.client.cmd("query-netdevs", id="t2")[0]["details"]["queue-fds"], 0)
        release = self.open_by_name_as(4242, f"/run/netns/{self.ns}-byname2", 2, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)
        release()

    def test_a_bridge_netdev_joins_a_bridge_in_the_pod(self):
        self.launch()
        pod = self.pod("br")
        self.in_pod(pod, "ip link add podbr type bridge && ip link set podbr up")
        reply = self.client.execute("netdev_add", dict(type="bridge", id="b0", br="podbr", netns=pod))
        self.assertIn("return", reply, reply)
        ifname = self.client.cmd("query-netdevs", id="b0")[0]["details"]["ifname"]
        self.assertEqual(self.link(pod, ifname)["master"], "podbr")
        self.client.cmd("netdev_del", id="b0")
        self.assertTrue(self.wait_link_gone(pod, ifname))


if __name__ == "__main__":
    unittest.main()
