"""NamespaceTestCase - a fresh network namespace (IPv6 off, so the kernel's
own solicitations do not cross the paths under test) with a vnetd running in
it, both removed after the test whatever happens."""
import contextlib
import ctypes
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from vnetd_harness import (QmpClient, sanitizer_environment, vnetd_binary, watch_sanitizer_reports,  # noqa: E402,F401
                           watch_stderr_log)


def run(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def setns(fd):
    """setns(2) into a network namespace (os.setns needs Python 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")


@contextlib.contextmanager
def entered(path):
    """The calling thread in the network namespace at path, and back after."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(path, os.O_RDONLY)
    try:
        setns(target)
        yield
    finally:
        setns(own)
        os.close(own)
        os.close(target)


def packet_socket(path, ifname, protocol=0x0003):
    """An AF_PACKET socket on ifname in the namespace at path."""
    with entered(path):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
        s.bind((ifname, 0))
    return s


def tcx_ingress_programs(ns, ifname):
    """The names of the BPF programs on ifname's tcx ingress (Linux 6.6 on),
    in the namespace ns, in order: BPF_PROG_QUERY, as iproute2 and bpftool
    of Debian 12 do not show tcx."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def bpf(cmd, attr):
        return libc.syscall(321, cmd, ctypes.byref(attr), ctypes.sizeof(attr))  # __NR_bpf on x86_64

    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        setns(target)
        ifindex = socket.if_nametoindex(ifname)
        ids = (ctypes.c_uint32 * 64)()
        query = (ctypes.c_uint8 * 64)()  # union bpf_attr's query member
        struct.pack_into("=IIII", query, 0, ifindex, 46, 0, 0)  # BPF_TCX_INGRESS
        struct.pack_into("=QI", query, 16, ctypes.addressof(ids), 64)
        if bpf(16, query) != 0:  # BPF_PROG_QUERY
            errno = ctypes.get_errno()
            if errno == 22:  # EINVAL: no tcx in this kernel
                return []
            raise OSError(errno, "BPF_PROG_QUERY")
        count = struct.unpack_from("=I", query, 24)[0]
        names = []
        for prog_id in ids[:count]:
            by_id = (ctypes.c_uint8 * 16)()
            struct.pack_into("=I", by_id, 0, prog_id)
            fd = bpf(13, by_id)  # BPF_PROG_GET_FD_BY_ID
            if fd < 0:
                continue
            info = (ctypes.c_uint8 * 256)()
            get = (ctypes.c_uint8 * 16)()
            struct.pack_into("=IIQ", get, 0, fd, 256, ctypes.addressof(info))
            ok = bpf(15, get) == 0  # BPF_OBJ_GET_INFO_BY_FD
            os.close(fd)
            if ok:
                names.append(bytes(info[64:80]).split(b"\0")[0].decode())  # bpf_prog_info.name
        return names
    finally:
        setns(own)
        os.close(own)
        os.close(target)


def enter_private_namespace(test, prefix):
    """Moves this thread into a new network namespace (lo up, IPv6 off: the
    solicitations a new link sends would race with the frames under test) for
    the rest of `test`, and back at its end, after the processes it started
    are stopped (cleanups run in reverse). Returns the namespace's name."""
    name = f"{prefix}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    test.addCleanup(subprocess.run, ["ip", "netns", "del", name])
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    theirs = os.open(f"/run/netns/{name}", os.O_RDONLY)
    setns(theirs)
    test.addCleanup(os.close, own)
    test.addCleanup(setns, own)
    os.close(theirs)
    subprocess.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"], check=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return name


def remove_stale_namespaces():
    """Namespaces of test runs that were killed before their cleanup ran
    (named vnt-PID-...; PID no longer alive)."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == "vnt" and parts[1].isdigit() and not os.path.exists(f"/proc/{parts[1]}"):
            run("ip", "netns", "del", name, check=False)


class NamespaceTestCase(unittest.TestCase):
    bridge_acl = "allow br0\n"

    @classmethod
    def setUpClass(cls):
        remove_stale_namespaces()

    def setUp(self):
        self.ns = f"vnt-{os.getpid()}-{self._testMethodName[-20:]}"
        run("ip", "netns", "add", self.ns)
        self.addCleanup(run, "ip", "netns", "del", self.ns, check=False)
        self.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1;"
                " ip link set lo up")
        self.work = tempfile.mkdtemp(prefix="vnt-")
        self.addCleanup(shutil.rmtree, self.work, True)
        watch_sanitizer_reports(self)
        self.acl = os.path.join(self.work, "bridge.conf")
        with open(self.acl, "w") as f:
            f.write(self.bridge_acl)

    def start_daemon(self, env=None, extra_args=()):
        sock = os.path.join(self.work, "qmp.sock")
        stderr_path = os.path.join(self.work, "vnetd.stderr")
        watch_stderr_log(self, stderr_path)
        # ip netns exec execs vnetd in place: the Popen pid is vnetd's.
        with open(stderr_path, "ab") as stderr_log:
            self.daemon = subprocess.Popen(["ip", "netns", "exec", self.ns, vnetd_binary(), "--socket", sock,
                                            "--state-dir", os.path.join(self.work, "state"), "--bridge-acl",
                                            self.acl, *extra_args],
                                           stderr=stderr_log, env=dict(os.environ, **(env or {})))
        self.addCleanup(self.stop_daemon)
        for _ in range(250):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        self.client = QmpClient(sock)
        self.addCleanup(self.client.close)

    def stop_daemon(self):
        if self.daemon.poll() is None:
            self.daemon.terminate()
            self.assertEqual(self.daemon.wait(20), 0, "vnetd did not stop cleanly on SIGTERM")

    def in_namespace(self):
        """The calling thread in the test's namespace (sockets made there stay there)."""
        return entered(f"/run/netns/{self.ns}")

    def sh(self, command):
        return run("ip", "netns", "exec", self.ns, "sh", "-c", command).stdout
