#!/usr/bin/env python3
"""vmm-attach against a real QEMU 7.2 with no guest (docs/vmm-attach.md).

QEMU runs stopped (-S) on `-M pc` with two QMP sockets: one vnetd attaches to,
one the test reads QEMU's state from (QEMU serves one client per socket).
vnetd runs in a network namespace of the test's own (netns_harness), so it
can be killed and restarted over the same taps. What a guest does with the
device is the vm tier's (tests/vm/); here: the hotplug and its undo, every
refusal leaving nothing behind in either process, a VMM that exits, a VMM
that never answers, and a restart.

Needs root and qemu-system-x86; without them the tests fail saying so."""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "netns"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from netns_harness import NamespaceTestCase  # noqa: E402
from qemu_announce import die_with_parent, find_qemu  # noqa: E402
from vnetd_harness import QmpClient  # noqa: E402

MAC = "52:54:00:ab:cd:10"
STARTUP_TIMEOUT = 10.0


class Qemu:
    """A stopped QEMU with a QMP socket for vnetd and one for the test."""

    def __init__(self, workdir, extra=(), pass_fds=()):
        self.vnetd_qmp = os.path.join(workdir, "vm-vnetd.qmp")
        test_qmp = os.path.join(workdir, "vm-test.qmp")
        self.log_path = os.path.join(workdir, "qemu.log")
        argv = [find_qemu(), "-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
                "-qmp", f"unix:{self.vnetd_qmp},server=on,wait=off", "-qmp", f"unix:{test_qmp},server=on,wait=off",
                *extra]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         pass_fds=pass_fds, preexec_fn=die_with_parent)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                self.qmp = QmpClient(test_qmp)
                break
            except (FileNotFoundError, ConnectionRefusedError, AssertionError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"QEMU did not start: {self.log()}")
                time.sleep(0.05)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-2000:]

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def netdevs(self):
        """`info network` (QEMU 7.2 has no query for netdevs)."""
        reply = self.qmp.execute("human-monitor-command", {"command-line": "info network"})
        return reply["return"]

    def devices(self):
        reply = self.qmp.execute("qom-list", {"path": "/machine/peripheral"})
        return sorted(p["name"] for p in reply["return"] if p["type"].startswith("child<"))

    def stop(self):
        self.qmp.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rx_filter_differences(qemu, vnetd):
    """Members that differ, broadcast-allowed read as CONTRACT.md says (QEMU
    7.2 reports its "nobcast" flag under that name)."""
    qemu, vnetd = dict(qemu), dict(vnetd)
    qemu.pop("name"), vnetd.pop("name")
    qemu["broadcast-allowed"] = not qemu["broadcast-allowed"]
    return [f"{k}: QEMU {json.dumps(qemu.get(k))[:80]} vnetd {json.dumps(vnetd.get(k))[:80]}"
            for k in sorted(set(qemu) | set(vnetd)) if qemu.get(k) != vnetd.get(k)]


class VmmAttachAgainstQemu(NamespaceTestCase):
    def setUp(self):
        find_qemu()
        super().setUp()
        # bpffs mounted from outside vnetd's mount namespace (ip netns exec
        # makes one per run), so that pinned filter maps outlive a kill -9.
        bpf = os.path.join(self.work, "state", "bpf")
        os.makedirs(bpf)
        subprocess.run(["mount", "-t", "bpf", "bpf", bpf], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", bpf], check=False)
        self.start_daemon()

    def start_qemu(self, extra=(), pass_fds=()):
        qemu = Qemu(self.work, extra, pass_fds)
        self.addCleanup(qemu.stop)
        return qemu

    def add_nic(self, queues=1, nic="n0", tap="t0"):
        self.assertEqual(self.client.execute("netdev_add", {"type": "tap", "id": tap, "queues": queues}),
                         {"return": {}})
        self.assertEqual(self.client.execute("netdev_add", {"type": "nic", "id": nic, "netdev": tap, "macaddr": MAC}),
                         {"return": {}})

    def attach(self, timeout=30, **arguments):
        return self.client.execute("vmm-attach", arguments, timeout=timeout)

    def attachments(self):
        return self.client.execute("query-vmm-attachments")["return"]

    def assert_mirrored(self, qemu, device="n0", nic="n0"):
        (ours,) = self.client.execute("query-rx-filter", {"name": nic})["return"]
        (theirs,) = qemu.qmp.execute("query-rx-filter", {"name": device})["return"]
        self.assertEqual(rx_filter_differences(theirs, ours), [], "vnetd's filter is not QEMU's")

    def assert_nothing_left(self, qemu, fds_before, request):
        self.assertEqual(self.attachments(), [], f"{request}: an attachment was left in vnetd")
        self.assertNotIn("vnetd-n0", qemu.netdevs(), f"{request}: a netdev was left in QEMU")
        self.assertNotIn("n0", qemu.devices(), f"{request}: a device was left in QEMU")
        self.assertEqual(qemu.fd_count(), fds_before, f"{request}: QEMU holds fds it did not have before")

    def test_hotplug_with_two_queues_then_detach(self):
        qemu = self.start_qemu()
        self.add_nic(queues=2)
        fds_before = qemu.fd_count()
        started = time.monotonic()
        self.assertEqual(self.attach(nic="n0", qmp=qemu.vnetd_qmp), {"return": {}})
        print(f"vmm-attach (2 queues, hotplug) answered in {(time.monotonic() - started) * 1000:.0f} ms")
        # Both queue fds went over and are held by QEMU's netdev (getfd's names consumed).
        self.assertEqual(qemu.fd_count(), fds_before + 2 + 1, "QEMU should hold 2 tap fds (and vnetd's connection)")
        network = qemu.netdevs()
        self.assertIn("vnetd-n0: index=0,type=tap", network)
        self.assertIn("vnetd-n0: index=1,type=tap", network)
        self.assertIn("n0", qemu.devices())
        mac = qemu.qmp.execute("qom-get", {"path": "/machine/peripheral/n0", "property": "mac"})
        self.assertEqual(mac, {"return": MAC})
        mq = qemu.qmp.execute("qom-get", {"path": "/machine/peripheral/n0", "property": "mq"})
        self.assertEqual(mq, {"return": True})
        self.assert_mirrored(qemu)
        (attached,) = self.attachments()
        self.assertEqual({k: attached[k] for k in ("nic", "qmp", "device", "connected", "hotplug", "state", "driver",
                                                   "netdev")},
                         {"nic": "n0", "qmp": qemu.vnetd_qmp, "device": "n0", "connected": True, "hotplug": True,
                          "state": "following", "driver": "virtio-net-pci", "netdev": "vnetd-n0"})
        self.assertGreaterEqual(attached["filter-updates"], 1)
        # While attached: neither the NIC nor its tap can go, and no second attach.
        for netdev in ("n0", "t0"):
            reply = self.client.execute("netdev_del", {"id": netdev})
            self.assertIn("vmm-detach it first", reply.get("error", {}).get("desc", ""), reply)
        again = self.attach(nic="n0", qmp=qemu.vnetd_qmp)
        self.assertIn("already attached", again.get("error", {}).get("desc", ""), again)
        # A stopped guest never releases the device: vmm-detach waits its 10 s,
        # asks QEMU to delete the netdev too, and forgets the attachment.
        self.assertEqual(self.client.execute("vmm-detach", {"nic": "n0"}, timeout=20), {"return": {}})
        self.assertEqual(self.attachments(), [])
        self.assertEqual(self.client.execute("netdev_del", {"id": "n0"}), {"return": {}})

    def test_refusals_by_qemu_leave_nothing_behind(self):
        qemu = self.start_qemu(["-device", "virtio-net-pci,id=taken"])
        self.add_nic(queues=2)
        fds_before = qemu.fd_count()
        cases = [({"device": "taken"}, "Duplicate device ID 'taken'"),
                 ({"bus": "nope"}, "Bus 'nope' not found"),
                 ({"hotplug": False, "device": "nosuch"}, "invalid net client name: nosuch")]
        for extra, qemu_text in cases:
            reply = self.attach(nic="n0", qmp=qemu.vnetd_qmp, **extra)
            self.assertEqual(reply, {"error": {"class": "GenericError", "desc": qemu_text}},
                             f"vmm-attach {extra}: QEMU's own refusal should come back")
            # vnetd's connection closes once the undo is done.
            deadline = time.monotonic() + 5
            while qemu.fd_count() != fds_before and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assert_nothing_left(qemu, fds_before, f"vmm-attach {extra}")
        # Then a good attach still works: nothing was left half-done.
        self.assertEqual(self.attach(nic="n0", qmp=qemu.vnetd_qmp), {"return": {}})

    def test_fds_the_vmm_cannot_take(self):
        qemu = self.start_qemu()
        self.add_nic()
        fds_before = qemu.fd_count()
        # Room for vnetd's connection only: the tap fd cannot be received.
        resource.prlimit(qemu.proc.pid, resource.RLIMIT_NOFILE, (fds_before + 1, fds_before + 1))
        reply = self.attach(nic="n0", qmp=qemu.vnetd_qmp)
        self.assertEqual(reply, {"error": {"class": "GenericError",
                                           "desc": "No file descriptor supplied via SCM_RIGHTS"}})
        deadline = time.monotonic() + 5
        while qemu.fd_count() != fds_before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assert_nothing_left(qemu, fds_before, "vmm-attach to a QEMU out of fds")

    def test_refusals_by_vnetd(self):
        qemu = self.start_qemu()
        self.add_nic()
        # A nic with no peer has no tap (a nic on a hub has one of its own: guests-on-hubs.md).
        self.client.cmd("netdev_add", type="nic", id="untapped")
        cases = [
            ({"nic": "nosuch", "qmp": qemu.vnetd_qmp}, "DeviceNotFound", "Device 'nosuch' not found"),
            ({"nic": "t0", "qmp": qemu.vnetd_qmp}, "GenericError", "net client(t0) isn't a NIC"),
            ({"nic": "untapped", "qmp": qemu.vnetd_qmp}, "GenericError", "has no tap peer"),
            ({"nic": "n0", "qmp": qemu.vnetd_qmp, "driver": "e1000"}, "GenericError", "virtio-net devices only"),
            ({"nic": "n0", "qmp": qemu.vnetd_qmp, "hotplug": False, "bus": "pci.0"}, "GenericError",
             "driver and bus are for hotplug"),
            ({"nic": "n0", "qmp": os.path.join(self.work, "missing.qmp")}, "GenericError", "no socket at"),
        ]
        for arguments, cls, text in cases:
            reply = self.attach(**arguments)
            self.assertEqual(reply.get("error", {}).get("class"), cls, f"vmm-attach {arguments}: {reply}")
            self.assertIn(text, reply["error"]["desc"], f"vmm-attach {arguments}")
        self.assertEqual(self.attachments(), [])
        self.assertIn("not attached", self.client.execute("vmm-detach", {"nic": "n0"})["error"]["desc"])

    def test_a_socket_that_is_not_qmp(self):
        self.add_nic()
        for behaviour, text in (("garbage", "is not a QMP monitor"), ("silent", "sent no QMP greeting within 5 s")):
            path = os.path.join(self.work, f"{behaviour}.sock")
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            server.listen(1)
            self.addCleanup(server.close)

            def serve():
                conn, _ = server.accept()
                if behaviour == "garbage":
                    conn.sendall(b'{"hello": "world"}\n')
                time.sleep(7)
                conn.close()
            threading.Thread(target=serve, daemon=True).start()
            # The attach waits on the socket; another client is answered meanwhile.
            waiting = QmpClient(self.client_socket())
            self.addCleanup(waiting.close)
            waiting.send("vmm-attach", {"nic": "n0", "qmp": path}, id="slow")
            started = time.monotonic()
            self.assertIn("return", self.client.execute("query-netdevs"))
            self.assertLess(time.monotonic() - started, 1.0, "vnetd stalled while a VMM did not answer")
            reply = waiting.read_reply(timeout=10)
            self.assertEqual(reply.get("id"), "slow")
            self.assertIn(text, reply.get("error", {}).get("desc", ""), reply)
            self.assertEqual(self.attachments(), [])

    def kill_daemon(self):
        """kill -9, and the socket file it leaves removed (start_daemon waits for the file)."""
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        self.client.close()
        os.unlink(self.client_socket())

    def client_socket(self):
        return os.path.join(self.work, "qmp.sock")

    def test_vmm_exit_leaves_the_tap_and_the_last_filter(self):
        qemu = self.start_qemu()
        self.add_nic()
        self.assertEqual(self.attach(nic="n0", qmp=qemu.vnetd_qmp), {"return": {}})
        self.client.take_events()
        qemu.proc.kill()
        qemu.proc.wait()
        deadline = time.monotonic() + 5
        while self.attachments()[0]["connected"] and time.monotonic() < deadline:
            time.sleep(0.05)
        (attached,) = self.attachments()
        self.assertEqual((attached["connected"], attached["state"]), (False, "disconnected"))
        self.assertIn("closed its QMP socket", attached.get("last-error", ""))
        events = [e for e in self.client.take_events() if e["event"] == "VNET_VMM_DISCONNECTED"]
        self.assertEqual([e["data"] for e in events], [{"nic": "n0", "qmp": qemu.vnetd_qmp}])
        netdevs = {n["id"]: n for n in self.client.execute("query-netdevs")["return"]}
        self.assertIn("t0", netdevs, "the tap must stay when the VMM exits")
        self.assertTrue(netdevs["n0"]["details"]["rx-filter-enforced"])
        self.assertEqual(self.client.execute("vmm-detach", {"nic": "n0"}, timeout=2), {"return": {}})
        self.assertEqual(self.attachments(), [])

    def test_hotplug_off_follows_a_device_given_the_fds_at_start(self):
        self.add_nic()
        fds = self.client.execute("netdev-get-fds", {"id": "t0"})
        self.assertEqual(fds["return"]["fds"], [{"role": "tap", "queue": 0}])
        (tap_fd,) = self.client.take_received_fds()
        qemu = self.start_qemu(["-netdev", f"tap,id=hn0,fd={tap_fd}",
                                "-device", f"virtio-net-pci,netdev=hn0,id=nic0,mac={MAC}"], pass_fds=[tap_fd])
        os.close(tap_fd)
        self.assertEqual(self.attach(nic="n0", qmp=qemu.vnetd_qmp, device="nic0", hotplug=False), {"return": {}})
        self.assert_mirrored(qemu, device="nic0")
        (attached,) = self.attachments()
        self.assertEqual((attached["hotplug"], attached["device"], attached["state"]), (False, "nic0", "following"))
        self.assertNotIn("netdev", attached)
        # Detach only forgets: the device was QEMU's own.
        self.assertEqual(self.client.execute("vmm-detach", {"nic": "n0"}, timeout=2), {"return": {}})
        self.assertIn("nic0", qemu.devices())

    def test_restart_reconnects_and_reads_the_filter_again(self):
        qemu = self.start_qemu()
        self.add_nic()
        self.assertEqual(self.attach(nic="n0", qmp=qemu.vnetd_qmp), {"return": {}})
        fds_in_qemu = qemu.fd_count()
        # An answered vmm-attach survives kill -9.
        self.kill_daemon()
        self.start_daemon()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            attachments = self.attachments()
            if attachments and attachments[0]["state"] == "following":
                break
            time.sleep(0.05)
        (attached,) = attachments
        self.assertEqual((attached["state"], attached["connected"], attached["device"], attached["hotplug"]),
                         ("following", True, "n0", True), attached)
        self.assertEqual(attached["filter-updates"], 1, "a restarted vnetd reads the VMM's filter once")
        netdevs = {n["id"]: n for n in self.client.execute("query-netdevs")["return"]}
        self.assertTrue(netdevs["n0"]["details"]["rx-filter-enforced"], "the filter on the VMM's tap was re-adopted")
        # Reconnected, not plugged again: QEMU holds what it held.
        self.assertEqual(qemu.fd_count(), fds_in_qemu)
        self.assertEqual(qemu.devices(), ["n0"])
        self.assert_mirrored(qemu)

    def test_restart_with_the_vmm_gone(self):
        qemu = self.start_qemu()
        self.add_nic()
        self.assertEqual(self.attach(nic="n0", qmp=qemu.vnetd_qmp), {"return": {}})
        self.kill_daemon()
        qemu.stop()
        self.start_daemon()
        (attached,) = self.attachments()
        self.assertEqual((attached["state"], attached["connected"]), ("disconnected", False), attached)
        # QEMU killed leaves its socket file, with nobody listening.
        self.assertIn("nothing accepts connections", attached.get("last-error", ""), attached)
        self.assertEqual(self.client.execute("vmm-detach", {"nic": "n0"}, timeout=2), {"return": {}})


if __name__ == "__main__":
    unittest.main()
