#!/usr/bin/env python3
"""vnetd under systemd's protocols, with Debian's own tools (docs/systemd.md):
- socket activation: systemd-socket-activate owns the socket and starts vnetd
  on the first connection (LISTEN_FDS), and vnetd serves QMP on it;
- readiness and liveness: a NOTIFY_SOCKET listener sees READY=1 only once
  the QMP socket answers, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on
  SIGTERM;
- the unit files: `systemd-analyze verify` accepts them.
vnetd runs in a network namespace of its own (unshare --net)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from vnetd_harness import REPO, QmpClient, main, vnetd_binary, watch_sanitizer_reports


def need(tool, package):
    path = shutil.which(tool)
    if not path:
        raise AssertionError(f"{tool} is missing: install Debian's {package} (scripts/install-deps does)")
    return path


class SystemdTest(unittest.TestCase):
    def setUp(self):
        self.work = Path(tempfile.mkdtemp(prefix="vnt-sd-"))
        self.addCleanup(shutil.rmtree, self.work, True)
        watch_sanitizer_reports(self)
        self.state = self.work / "state"

    def spawn(self, command, env=None):
        proc = subprocess.Popen(command, env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        self.addCleanup(stop)
        return proc

    def test_socket_activation(self):
        activate = need("systemd-socket-activate", "systemd")
        sock = str(self.work / "qmp.sock")
        proc = self.spawn([activate, "-l", sock, "unshare", "--net", "--", vnetd_binary(), "--socket",
                           str(self.work / "unused.sock"), "--state-dir", str(self.state)])
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            self.assertLess(time.monotonic(), deadline, "systemd-socket-activate made no socket")
            time.sleep(0.02)
        client = QmpClient(sock)  # the first connection starts vnetd
        self.addCleanup(client.close)
        self.assertIn("qemu", client.cmd("query-version"))
        self.assertEqual(client.cmd("netdev_add", type="hubport", id="h0", hubid=1), {})
        self.assertFalse(os.path.exists(self.work / "unused.sock"), "vnetd made its own socket beside systemd's")
        client.close()
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0]
        self.assertIn("serving QMP on the socket systemd passed", output)
        # A UBSan report (on stderr, so in output) ends vnetd with status 1.
        self.assertEqual(proc.returncode, 0, f"vnetd after SIGTERM; its output:\n{output}")

    def test_ready_watchdog_and_stopping_notifications(self):
        notify_path = str(self.work / "notify")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(notify_path)
        self.addCleanup(listener.close)
        listener.settimeout(10)
        sock = str(self.work / "qmp.sock")
        proc = self.spawn(["unshare", "--net", "--", vnetd_binary(), "--socket", sock, "--state-dir",
                           str(self.state)], env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "200000"})
        ready = listener.recv(4096).decode()
        self.assertIn("READY=1", ready.split("\n"))
        # Ready means served: a client connects at once.
        client = QmpClient(sock)
        client.close()
        # The watchdog: every 100 ms (half of WATCHDOG_USEC), from the event loop.
        stamps = []
        while len(stamps) < 4:
            if listener.recv(4096).decode().startswith("WATCHDOG=1"):
                stamps.append(time.monotonic())
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        self.assertTrue(all(0.05 < g < 0.5 for g in gaps), f"watchdog gaps {gaps}")
        proc.send_signal(signal.SIGTERM)
        seen = []
        while "STOPPING=1" not in seen:
            seen = listener.recv(4096).decode().split("\n")
        self.assertEqual(proc.wait(20), 0)

    def test_units_verify(self):
        analyze = need("systemd-analyze", "systemd")
        units = self.work / "units"
        units.mkdir()
        paths = {"@VNETCTL_BINDIR@": str(Path(vnetd_binary()).resolve().parent),
                 "@VNETCTL_LIBEXECDIR@": str(REPO / "systemd"), "@VNETCTL_DOCDIR@": str(REPO)}
        for unit in ("vnetd.service", "vnetd.socket"):
            text = (REPO / "systemd" / unit).read_text()
            for key, value in paths.items():
                text = text.replace(key, value)
            self.assertNotIn("@", text.replace("man:", ""), f"{unit}: a placeholder is left")
            (units / unit).write_text(text)
        done = subprocess.run([analyze, "verify", "--man=no", str(units / "vnetd.service"),
                               str(units / "vnetd.socket")], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stderr.strip(), "", f"systemd-analyze verify warns:\n{done.stderr}")


if __name__ == "__main__":
    main()
