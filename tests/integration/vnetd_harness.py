"""vnetd_harness - what every integration test shares.

Each test starts its own vnetd on a socket in a fresh temporary directory
(in a network namespace of its own when run as root), talks QMP to it over
real UNIX sockets, and at the end checks that the daemon is still answering
and that SIGTERM stops it with status 0 and its socket removed.

Python 3 standard library only. The test files call main(); vnetd is found
from --vnetd PATH, else the environment variable VNETD, else build/bin/vnetd
at the top of the repository.
"""
import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "ctl" / "schema"
# The seed schema: ctl/schema/net.json is the repository's copy of it.
SEED_SCHEMA = SCHEMA_DIR / "net.json"

# How long a reply may take before the test calls the daemon hung, and how
# long to wait for one that a broken parser never sends. A sanitizer build is
# ten times slower: set VNETD_TIMEOUT_SCALE=10 for it.
TIMEOUT_SCALE = float(os.environ.get("VNETD_TIMEOUT_SCALE", "1"))
REPLY_TIMEOUT = 5.0 * TIMEOUT_SCALE
SHORT_TIMEOUT = 3.0 * TIMEOUT_SCALE

# QEMU's netdev types the seed schema has and this vnetd does not build yet;
# they must fail cleanly (tests/integration/test_registry.py). None left:
# vhost-user was the last (tests/integration/test_vhost_user.py).
UNBUILT_NETDEVS = {}

# Replies nest arrays as deep as the requests that the protocol tests send.
sys.setrecursionlimit(20000)

_options = argparse.Namespace(vnetd=None)


NO_ID = object()  # "send no id" (None is the JSON id null)


class NoReply(AssertionError):
    """The daemon did not answer in time, or closed the connection."""


# -- sanitizer reports (docs/testing.md, "Sanitizers")
# What ASan, UBSan and LeakSanitizer read their options from. Only our own
# binaries (vnetd, vnetctl) are instrumented; everything else ignores them.
SANITIZER_OPTION_VARIABLES = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
# The most of one report a failure message shows (an LSan report of many
# leaks can be long; the first stacks are the useful ones).
SANITIZER_REPORT_LIMIT = 20000


# A UBSan report: "FILE:LINE:COL: runtime error: WHAT" and its stack.
UBSAN_REPORT = re.compile(r"[^\n]*runtime error: [^\n]*(?:\n[ \t]+#\d+[^\n]*)*")


def watch_sanitizer_reports(test):
    """watch_sanitizer_reports() - fail @test with every sanitizer report of a
    process it starts.

    Points log_path of the sanitizers' options (kept as the environment had
    them, e.g. from ctest) into a directory of this test's own, so an ASan or
    LSan report reaches a file whatever the process's stderr was (DEVNULL, a
    pipe, a log). Every process started while the test runs inherits it.
    GCC's UBSan is a runtime of its own beside ASan's and writes to stderr
    whatever log_path says: its reports are looked for in the stderr logs
    named by watch_stderr_log(). Call it in setUp after the cleanup that
    removes the test's files and before any process starts: its check then
    runs after the test's daemons were stopped (an LSan report comes at exit).
    A report of any kind fails the test with its text; a file in that
    directory can only come from an instrumented binary, and only ours are.
    In a build without sanitizers nothing ever writes there.
    """
    logdir = tempfile.mkdtemp(prefix="vnet-sanitizer-")
    test.sanitizer_stderr_logs = []
    saved = {name: os.environ.get(name) for name in SANITIZER_OPTION_VARIABLES}
    for name in SANITIZER_OPTION_VARIABLES:
        # A later option wins over an earlier one of the same name.
        os.environ[name] = ":".join(filter(None, [saved[name], f"log_path={logdir}/report"]))

    def shorten(text):
        if len(text) <= SANITIZER_REPORT_LIMIT:
            return text
        return text[:SANITIZER_REPORT_LIMIT] + f"\n... ({len(text)} characters in all)"

    def check():
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reports = []
        for path in sorted(Path(logdir).iterdir()):
            # report.PID: the pid is the one of the process that wrote it.
            reports.append(f"--- {path.name} ---\n{shorten(path.read_text(errors='replace'))}")
        shutil.rmtree(logdir, True)
        for path in test.sanitizer_stderr_logs:
            try:
                text = Path(path).read_text(errors="replace")
            except OSError:
                continue
            for found in UBSAN_REPORT.finditer(text):
                reports.append(f"--- UBSan, in {path} ---\n{shorten(found.group(0))}")
        if reports:
            test.fail(f"{len(reports)} sanitizer report(s) from processes this test started:\n" + "\n".join(reports))
    test.addCleanup(check)


def watch_stderr_log(test, path):
    """Has the check of watch_sanitizer_reports() look for UBSan's reports
    in path, the stderr of a process of @test's (read when the test ends,
    so the file must still be there then)."""
    test.sanitizer_stderr_logs.append(path)


def sanitizer_environment():
    """The sanitizer options of this moment, for a process started with an
    environment of its own (udev's, systemd's): merge them into it."""
    return {name: os.environ[name] for name in SANITIZER_OPTION_VARIABLES if name in os.environ}


def vnetd_binary():
    path = _options.vnetd or os.environ.get("VNETD") or str(REPO / "build" / "bin" / "vnetd")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"no vnetd binary at {path} (build it, or pass --vnetd PATH / set VNETD)")
    return path


def _die_with_parent():
    # PR_SET_PDEATHSIG: the daemon dies with the test even if ctest kills it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def as_user(uid, gid, work, groups=(), netns=None):
    """Runs work() in a child that has dropped to uid, primary group gid and
    supplementary groups, without capabilities (first entering the network
    namespace at path netns, if given); returns what work() returned
    (JSON-able), or raises with the child's traceback."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        status = 0
        try:
            if netns:
                target = os.open(netns, os.O_RDONLY)
                if ctypes.CDLL(None, use_errno=True).setns(target, 0x40000000) != 0:  # CLONE_NEWNET
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
                os.close(target)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            result = {"ok": work()}
        except BaseException:  # noqa: B902 - everything goes back to the parent
            result = {"error": traceback.format_exc()}
            status = 1
        os.write(write_end, json.dumps(result).encode())
        os._exit(status)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b'{"error": "the child sent nothing"}')
    if "error" in result:
        raise AssertionError(f"as uid {uid}{' in ' + netns if netns else ''}: {result['error']}")
    return result["ok"]


class Vnetd:
    """One vnetd process on a socket in workdir."""

    def __init__(self, workdir, own_netns=True, extra_args=()):
        # False: stay in the caller's network namespace; a name: run in that
        # named one (ip netns), which outlives vnetd, so a SIGKILL keeps its devices.
        self.own_netns = own_netns
        self.extra_args = list(extra_args)  # more vnetd options (--access FILE, ...)
        self.workdir = Path(workdir)
        self.socket_path = str(self.workdir / "qmp.sock")
        self.state_dir = str(self.workdir / "state")
        self.log_path = self.workdir / "vnetd.log"
        self.proc = None

    def start(self):
        command = [vnetd_binary(), "--socket", self.socket_path, "--state-dir", self.state_dir,
                   # No ACL file: every bridge is denied, whatever the host has in /etc.
                   "--bridge-acl", str(self.workdir / "bridge.conf")] + self.extra_args
        # Anything a backend creates in the kernel lives and dies in a private
        # namespace. unshare execs vnetd, so the pid stays vnetd's own.
        if isinstance(self.own_netns, str):
            command = ["ip", "netns", "exec", self.own_netns] + command  # execs vnetd too
        elif self.own_netns and os.geteuid() == 0 and shutil.which("unshare"):
            command = ["unshare", "--net", "--"] + command
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10 * TIMEOUT_SCALE
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vnetd exited with status {self.proc.returncode} while starting:\n{self.log()}")
            if os.path.exists(self.socket_path):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(self.socket_path)
                    break
                except OSError:
                    pass
                finally:
                    probe.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"vnetd did not start serving on {self.socket_path}:\n{self.log()}")
            time.sleep(0.01)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail=4000):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-tail:]

    def describe_exit(self):
        rc = self.proc.returncode
        how = f"killed by signal {-rc} ({signal.Signals(-rc).name})" if rc is not None and rc < 0 else f"status {rc}"
        return f"vnetd {how}; its log ends:\n{self.log()}"

    def open_fds(self):
        """The daemon's open descriptors: {fd number: what it points at}."""
        out = {}
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out[int(name)] = os.readlink(f"/proc/{self.pid}/fd/{name}")
            except OSError:
                pass  # closed while we looked
        return out

    def fd_count(self):
        return len(self.open_fds())

    def wait_fd_count(self, expected, timeout=REPLY_TIMEOUT):
        """Waits until the daemon has `expected` fds open; returns what it has
        at the end (disconnects are handled asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.fd_count()
            if count == expected or time.monotonic() > deadline:
                return count
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=10 * TIMEOUT_SCALE):
        """Sends sig and returns the exit status (None if it did not exit)."""
        if not self.alive():
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


class QmpClient:
    """A QMP connection: reads one JSON text per line, keeps events aside."""

    _sync_counter = 0

    def __init__(self, socket_path, negotiate=True, read_greeting=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(socket_path)
        self.buf = b""
        self.events = []          # events seen while waiting for replies
        self.received_fds = []    # fds that arrived as SCM_RIGHTS
        self.greeting = None
        if read_greeting or negotiate:
            self.greeting = self.read_message()
        if negotiate:
            reply = self.execute("qmp_capabilities")
            if reply != {"return": {}}:
                raise AssertionError(f"qmp_capabilities answered {reply}")

    # -- sending
    def send_raw(self, data, fds=()):
        if isinstance(data, str):
            data = data.encode()
        if fds:
            # The fds travel with the first byte; the rest follows plainly.
            sent = socket.send_fds(self.sock, [data], list(fds))
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def send(self, command, arguments=None, id=NO_ID, fds=()):
        request = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        if id is not NO_ID:
            request["id"] = id
        self.send_raw(json.dumps(request), fds)

    # -- receiving
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 20, 64)
        self.received_fds.extend(fds)
        if not data:
            raise ConnectionError("connection closed by vnetd")
        self.buf += data

    def read_line(self, timeout=REPLY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise NoReply(f"no complete reply line within {timeout}s; unfinished: {self.buf[:300]!r}") from None
            except ConnectionError as e:
                raise NoReply(f"{e}; unfinished: {self.buf[:300]!r}") from None
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def read_message(self, timeout=REPLY_TIMEOUT):
        line = self.read_line(timeout)
        try:
            return json.loads(line)
        except ValueError as e:
            raise AssertionError(f"vnetd sent a line that is not JSON ({e}): {line[:300]!r}") from None

    def read_reply(self, timeout=REPLY_TIMEOUT):
        """The next message that is not an event (events go to self.events)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.read_message(max(deadline - time.monotonic(), 0.001))
            if "event" in message and "return" not in message and "error" not in message:
                self.events.append(message)
                continue
            return message

    def execute(self, command, arguments=None, id=NO_ID, fds=(), timeout=REPLY_TIMEOUT):
        self.send(command, arguments, id, fds)
        return self.read_reply(timeout)

    def take_received_fds(self):
        """The fds received so far; the caller now owns (and closes) them."""
        fds, self.received_fds = self.received_fds, []
        return fds

    def cmd(self, command, **arguments):
        """Runs a command that must succeed and returns its "return" value."""
        reply = self.execute(command, arguments or None)
        if "return" not in reply:
            raise AssertionError(f"{command} {arguments} answered {reply}")
        return reply["return"]

    def sync(self, timeout=REPLY_TIMEOUT):
        """Sends query-version with a fresh id and returns every reply that came
        before its answer (events go to self.events)."""
        return self.read_until(self.send_sync(), timeout)

    def send_sync(self):
        QmpClient._sync_counter += 1
        tag = f"sync-{QmpClient._sync_counter}"
        self.send("query-version", id=tag)
        return tag

    def read_until(self, tag, timeout=REPLY_TIMEOUT):
        """Every reply before the one whose id is tag."""
        before = []
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_reply(max(deadline - time.monotonic(), 0.001))
            if reply.get("id") == tag:
                return before
            before.append(reply)

    def take_events(self, name=None):
        taken = [e for e in self.events if name is None or e["event"] == name]
        self.events = [e for e in self.events if not (name is None or e["event"] == name)]
        return taken

    def nothing_pending(self, wait=0.2):
        """True when nothing arrives within `wait` seconds."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1 << 16, socket.MSG_PEEK)
        except TimeoutError:
            return True
        return False if data else True

    def close(self):
        for fd in self.received_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.received_fds = []
        self.sock.close()


CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def in_netns_of(pid):
    """The calling thread in process pid's network namespace (vnetd's own,
    say) for the block: sockets made there stay there; then back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    theirs = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(theirs, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into the network namespace of pid {pid}")
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(theirs)


def start_vnetd(test, workdir, own_netns=True):
    """A vnetd in a new directory workdir, and a negotiated client of it;
    both stopped by test's cleanups. Returns (daemon, client)."""
    daemon = Vnetd(workdir, own_netns)
    os.mkdir(daemon.workdir)
    test.addCleanup(daemon.kill)
    test.addCleanup(daemon.stop)
    daemon.start()
    client = QmpClient(daemon.socket_path)
    test.addCleanup(client.close)
    return daemon, client


class VnetdTestCase(unittest.TestCase):
    """Starts a vnetd per test; tearDown checks it survived and stops cleanly."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="vnetd-it-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        watch_sanitizer_reports(self)
        self.daemon = Vnetd(self.workdir, extra_args=self.daemon_args())
        watch_stderr_log(self, self.daemon.log_path)
        self.addCleanup(self.daemon.kill)
        self.daemon.start()
        self.clients = []
        self.addCleanup(self._close_clients)
        # A test that stops the daemon itself sets this to skip the end check.
        self.daemon_stopped_by_test = False

    def daemon_args(self):
        """More vnetd options for this test's daemon; files it names may be
        written into self.workdir here (it exists, the daemon has not started)."""
        return []

    def _close_clients(self):
        for client in self.clients:
            try:
                client.close()
            except OSError:
                pass

    def tearDown(self):
        if self.daemon_stopped_by_test:
            return
        self.assert_daemon_answers()
        self._close_clients()
        self.assert_clean_stop(signal.SIGTERM)

    # -- helpers for tests
    def connect(self, negotiate=True, read_greeting=True):
        client = QmpClient(self.daemon.socket_path, negotiate, read_greeting)
        self.clients.append(client)
        return client

    def assert_daemon_answers(self):
        self.assertTrue(self.daemon.alive(), self.daemon.describe_exit() if self.daemon.proc else "")
        probe = QmpClient(self.daemon.socket_path)
        try:
            version = probe.cmd("query-version")
            self.assertIn("qemu", version)
        finally:
            probe.close()

    def assert_clean_stop(self, sig):
        rc = self.daemon.stop(sig)
        self.assertIsNotNone(rc, f"vnetd did not exit after {sig.name}:\n{self.daemon.log()}")
        self.assertEqual(rc, 0, f"after {sig.name}: {self.daemon.describe_exit()}")
        self.assertFalse(os.path.exists(self.daemon.socket_path),
                         f"vnetd left its socket {self.daemon.socket_path} behind after {sig.name}")

    def assert_error(self, reply, cls, desc=None, msg=None):
        self.assertIn("error", reply, msg or f"expected a {cls} error, got {reply}")
        self.assertEqual(reply["error"]["class"], cls, msg or f"reply: {reply}")
        if desc is not None:
            self.assertEqual(reply["error"]["desc"], desc, msg or f"reply: {reply}")
        self.assertEqual(set(reply["error"]), {"class", "desc"}, f"reply: {reply}")

    def assert_ok(self, reply, value=None, msg=None):
        self.assertIn("return", reply, msg or f"expected success, got {reply}")
        if value is not None:
            self.assertEqual(reply["return"], value, msg)

    def assert_event_shape(self, event, name, data):
        self.assertEqual(set(event), {"timestamp", "event", "data"}, f"event: {event}")
        self.assertEqual(event["event"], name, f"event: {event}")
        self.assertEqual(event["data"], data, f"event: {event}")
        stamp = event["timestamp"]
        self.assertEqual(set(stamp), {"seconds", "microseconds"}, f"event: {event}")
        self.assertIs(type(stamp["seconds"]), int)
        self.assertIs(type(stamp["microseconds"]), int)
        self.assertTrue(0 <= stamp["microseconds"] < 1000000, f"event: {event}")
        self.assertLess(abs(stamp["seconds"] - time.time()), 60, f"event timestamp is not now: {event}")


def pipe_identity(fd):
    """What /proc shows for either end of the pipe fd belongs to ("pipe:[N]")."""
    return os.readlink(f"/proc/self/fd/{fd}")


def reader_gone(write_fd):
    """True when no process holds the read end of the pipe write_fd writes to."""
    try:
        os.write(write_fd, b"x")
    except BrokenPipeError:
        return True
    return False


def load_schema(paths):
    """The expressions of QAPI schema files (QEMU's JSON-with-comments syntax)."""
    expressions = []
    decoder = json.JSONDecoder()
    for path in paths:
        text = Path(path).read_text()
        # Drop '#' comments outside strings, then read it as JSON: QAPI strings
        # are single-quoted and never contain quotes themselves.
        kept, in_string, i = [], False, 0
        while i < len(text):
            c = text[i]
            if c == "'":
                in_string = not in_string
                kept.append('"')
            elif c == "#" and not in_string:
                while i < len(text) and text[i] != "\n":
                    i += 1
                continue
            else:
                kept.append(c)
            i += 1
        body, pos = "".join(kept), 0
        while True:
            while pos < len(body) and body[pos].isspace():
                pos += 1
            if pos == len(body):
                break
            expression, pos = decoder.raw_decode(body, pos)
            expressions.append(expression)
    return expressions


def schema_names(paths, kind):
    return [e[kind] for e in load_schema(paths) if kind in e]


def main():
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--vnetd", help="path of the vnetd binary (default: $VNETD or build/bin/vnetd)")
    known, rest = parser.parse_known_args()
    _options.vnetd = known.vnetd
    unittest.main(module="__main__", argv=[sys.argv[0]] + rest)
