#!/usr/bin/env python3
"""vnetd's vde netdev on a real vde_switch (Debian's vde2), with QEMU 7.2's
own vde netdev as the switch's other client (issue 6):

    test T --udp--> QEMU u -hub- QEMU v ==vde_switch== vnetd vd -hub- s1 --udp--> test T2
    test T <--udp-- QEMU u -hub- QEMU v ==vde_switch== vnetd vd -hub- s1 <--udp-- test T2

Frames of 60 and 1514 bytes cross both ways and must arrive byte for byte.
Also: a switch that is absent or not running gets QEMU's own answer and
leaves nothing behind (no netdev, no fd, no socket file); netdev_del closes
the port (the switch's console stops listing it); a switch that goes away
shows as connected: false. The switch runs in the foreground on a socket
directory of the test's own; UDP runs on loopback in a private network
namespace. Needs root, qemu-system-x86 and vde2."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from vnetd_harness import start_vnetd  # noqa: E402
from wire import udp_socket  # noqa: E402
from qemu_announce import die_with_parent, find_qemu, private_netns, running_qemu  # noqa: E402

# Ports: T, QEMU u (local), vnetd s1 (local), T2.
T, Q1, S1, T2 = 47201, 47202, 47203, 47204
LOCAL = "127.0.0.1"
MAC_QEMU_SIDE = "02000000000a"
MAC_VNETD_SIDE = "02000000000b"
TIMEOUT = 5.0


def frame(size, tag, src, dst):
    head = bytes.fromhex(dst + src) + b"\x88\xb5" + tag.encode()
    return head + bytes((i * 7 + len(tag)) % 256 for i in range(size - len(head)))


def find_vde_switch():
    found = shutil.which("vde_switch")
    if not found:
        raise AssertionError("vde_switch not found: install the Debian package vde2 "
                             "(apt-get install vde2, or scripts/install-deps)")
    return found


class VdeSwitch:
    """A vde_switch in the foreground on socket directory `path`, with its
    management console on `path`.mgmt. Its console's stdin is a pipe held
    open: the switch quits at end of input."""

    def __init__(self, binary, path, log_path):
        self.path = path
        self.mgmt = path + ".mgmt"
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([binary, "-s", path, "-M", self.mgmt], stdin=subprocess.PIPE,
                                     stdout=self.log, stderr=self.log, preexec_fn=die_with_parent)
        deadline = time.monotonic() + TIMEOUT
        while not (os.path.exists(os.path.join(path, "ctl")) and os.path.exists(self.mgmt)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"vde_switch did not start on {path} (log: {log_path})")
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
            self.proc.stdin = None
        self.log.close()

    def console(self, command):
        """One management command; its output (the lines between vde_switch's
        '0000 DATA END WITH' and '.'), or an AssertionError naming the failure."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(self.mgmt)
            text = b""
            while not text.endswith(b"vde$ "):
                text += s.recv(65536) or b"vde$ "
            s.sendall(command.encode() + b"\n")
            text = b""
            while b"\n1000 " not in text and not any(f"\n{code}".encode() in text for code in range(1001, 1600)):
                chunk = s.recv(65536)
                if not chunk:
                    break
                text += chunk
        out = text.decode(errors="replace")
        if "\n1000 Success" not in out:
            raise AssertionError(f"vde_switch console: {command!r} answered {out!r}")
        return out

    def endpoints(self):
        """The descriptions of the switch's connected endpoints (port/print)."""
        return [line.split("prog   :", 1)[1].strip()
                for line in self.console("port/print").splitlines() if "prog   :" in line]


class VdeSwitchInterop(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("must run as root (a private network namespace)")
        qemu = find_qemu()
        vde_switch = find_vde_switch()
        self.work = tempfile.mkdtemp(prefix="vnt-vde-")
        self.addCleanup(shutil.rmtree, self.work, True)
        stack = contextlib.ExitStack()
        self.addCleanup(stack.close)
        stack.enter_context(private_netns())
        self.switch = VdeSwitch(vde_switch, os.path.join(self.work, "sw"), os.path.join(self.work, "switch.log"))
        stack.callback(self.switch.stop)
        argv = [qemu, "-M", "none", "-nodefaults", "-display", "none",
                "-netdev", f"vde,id=v,sock={self.switch.path}",
                "-netdev", "hubport,id=qh0,hubid=0,netdev=v",
                "-netdev", f"socket,id=u,udp={LOCAL}:{T},localaddr={LOCAL}:{Q1}",
                "-netdev", "hubport,id=qh1,hubid=0,netdev=u"]
        os.mkdir(os.path.join(self.work, "qemu"))
        self.qemu = stack.enter_context(running_qemu(argv, os.path.join(self.work, "qemu")))
        self.daemon, self.vnetd = start_vnetd(self, os.path.join(self.work, "vnetd"), own_netns=False)
        for netdev in ({"type": "vde", "id": "vd", "sock": self.switch.path},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "vd"},
                       {"type": "socket", "id": "s1", "udp": f"{LOCAL}:{T2}", "localaddr": f"{LOCAL}:{S1}"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}):
            self.vnetd.cmd("netdev_add", **netdev)
        self.t = udp_socket(self, T)
        self.t2 = udp_socket(self, T2)

    def details(self, id):
        return {n["id"]: n for n in self.vnetd.cmd("query-netdevs")}[id]["details"]

    def wait_for(self, what, predicate):
        deadline = time.monotonic() + TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def test_frames_cross_the_switch_both_ways_byte_for_byte(self):
        endpoints = self.switch.endpoints()
        self.assertEqual(len(endpoints), 2, endpoints)
        self.assertTrue(any(e.startswith("vnetd netdev=vd ") for e in endpoints), endpoints)
        self.assertTrue(any(e.startswith("QEMU ") for e in endpoints), endpoints)
        for size in (60, 1514):
            out = frame(size, f"qemu->vnetd {size}", MAC_QEMU_SIDE, MAC_VNETD_SIDE)
            self.t.sendto(out, (LOCAL, Q1))
            data, source = self.t2.recvfrom(70000)
            self.assertEqual((data, source), (out, (LOCAL, S1)), f"{size} bytes, QEMU -> switch -> vnetd")
            back = frame(size, f"vnetd->qemu {size}", MAC_VNETD_SIDE, MAC_QEMU_SIDE)
            self.t2.sendto(back, (LOCAL, S1))
            data, source = self.t.recvfrom(70000)
            self.assertEqual((data, source), (back, (LOCAL, Q1)), f"{size} bytes, vnetd -> switch -> QEMU")
        vd = self.details("vd")
        self.assertEqual((vd["frames-in"], vd["bytes-in"]), (2, 60 + 1514))
        self.assertEqual((vd["frames-out"], vd["bytes-out"]), (2, 60 + 1514))
        self.assertEqual(vd["connected"], True)
        for counter in ("drops-no-peer", "drops-oversize", "drops-runt", "receive-errors", "drops-busy",
                        "drops-send-error", "drops-disconnected"):
            self.assertEqual(vd[counter], 0, counter)

    def new_fds(self, before):
        """The daemon's fds that were not open (as the same thing) in before."""
        return {fd: target for fd, target in self.daemon.open_fds().items() if before.get(fd) != target}

    def test_netdev_del_closes_the_port(self):
        before = self.daemon.open_fds()
        self.vnetd.cmd("netdev_add", type="vde", id="vd2", sock=self.switch.path)
        self.assertIn("vnetd netdev=vd2", " | ".join(self.switch.endpoints()))
        # (The state file is being rewritten meanwhile: sockets only.)
        opened = {fd: t for fd, t in self.new_fds(before).items() if t.startswith("socket:")}
        self.assertEqual(len(opened), 2, f"a vde port is a control and a data socket: {opened}")
        self.vnetd.cmd("netdev_del", id="vd2")
        self.wait_for("the switch to drop vd2's port",
                      lambda: not any(e.startswith("vnetd netdev=vd2 ") for e in self.switch.endpoints()))
        still = {fd: t for fd, t in self.daemon.open_fds().items() if opened.get(fd) == t}
        self.assertEqual(still, {}, "vd2's fds stay open")
        self.assertEqual(len(self.switch.endpoints()), 2, "vd's and QEMU's ports must stay")
        # The id is free again and the switch takes a new port under it.
        self.vnetd.cmd("netdev_add", type="vde", id="vd2", sock=self.switch.path)
        self.vnetd.cmd("netdev_del", id="vd2")

    def assert_refused_as_qemu(self, arguments, desc):
        """vnetd answers arguments as QEMU does, with desc, and keeps nothing."""
        fds = self.daemon.open_fds()
        files = {d: sorted(os.listdir(d)) for d in (self.work, self.switch.path)}
        ours = self.vnetd.execute("netdev_add", arguments)
        theirs = self.qemu.execute("netdev_add", arguments)
        self.assertEqual(ours.get("error"), {"class": "GenericError", "desc": desc}, ours)
        self.assertEqual(ours.get("error"), theirs.get("error"), "QEMU 7.2 answers differently")
        self.assertNotIn(arguments["id"], [n["id"] for n in self.vnetd.cmd("query-netdevs")])
        # New fds only: a client connection the daemon had not yet seen close
        # (start_vnetd's probe) may go meanwhile.
        self.assertEqual({fd: t for fd, t in self.new_fds(fds).items() if not t.endswith(".json.new")}, {},
                         "a failed vde netdev leaves an fd open")
        self.assertEqual({d: sorted(os.listdir(d)) for d in files}, files, "a failed vde netdev leaves a file")

    def test_absent_switch_is_refused_as_qemu_refuses_it(self):
        self.assert_refused_as_qemu({"type": "vde", "id": "gone", "sock": os.path.join(self.work, "nowhere")},
                                    "Could not open vde: No such file or directory")

    def test_switch_not_running_is_refused_as_qemu_refuses_it(self):
        # A switch killed outright leaves its ctl socket behind, with no one
        # listening: connect() is refused.
        dead = VdeSwitch(find_vde_switch(), os.path.join(self.work, "dead"), os.path.join(self.work, "dead.log"))
        dead.stop(signal.SIGKILL)
        self.assertTrue(os.path.exists(os.path.join(dead.path, "ctl")))
        self.assert_refused_as_qemu({"type": "vde", "id": "dead", "sock": dead.path},
                                    "Could not open vde: Connection refused")

    def test_switch_going_away_shows_as_disconnected(self):
        self.switch.stop()
        self.wait_for("vd to notice the switch is gone", lambda: self.details("vd")["connected"] is False)
        self.t2.sendto(frame(60, "after", MAC_VNETD_SIDE, MAC_QEMU_SIDE), (LOCAL, S1))
        self.wait_for("the frame to be dropped", lambda: self.details("vd")["drops-disconnected"] == 1)
        # netdev_del still cleans up a port whose switch is gone.
        self.vnetd.cmd("netdev_del", id="vd")
        self.assertIn("qemu", self.vnetd.cmd("query-version"), "vnetd stopped answering")


if __name__ == "__main__":
    unittest.main()
