"""What the wire-level interop tests share: test frames, UDP sockets of the
test's own (closed by the test's cleanups), QEMU's -netdev syntax, and a test
case with a private network namespace and a vnetd in it."""
import contextlib
import os
import shutil
import socket
import tempfile
import unittest

from vnetd_harness import start_vnetd
from qemu_announce import find_qemu, private_netns

LOCAL = "127.0.0.1"


def frame(size, tag):
    """An Ethernet frame of `size` bytes (ethertype 0x88b5, local experimental)
    whose payload starts with `tag` and goes on in a pattern of its own."""
    head = bytes.fromhex("020000000001" "020000000002") + b"\x88\xb5" + tag.encode()
    return head + bytes((i * 7 + len(tag)) % 256 for i in range(size - len(head)))


def udp_socket(test, port, family=socket.AF_INET, host=LOCAL):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.settimeout(3)
    test.addCleanup(s.close)
    return s


def qemu_option(netdev):
    """A netdev_add argument dict as QEMU's -netdev text (true as "on")."""
    return ",".join([netdev["type"], f"id={netdev['id']}"] +
                    [f"{k}={'on' if v is True else v}" for k, v in netdev.items() if k not in ("type", "id")])


class WireTestCase(unittest.TestCase):
    """Root, QEMU, a work directory, a private network namespace and a vnetd
    in it (self.vnetd, a negotiated client); self.stack closes with the test."""
    work_prefix = "vnt-wire-"

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("must run as root (a private network namespace)")
        self.qemu = find_qemu()
        self.work = tempfile.mkdtemp(prefix=self.work_prefix)
        self.addCleanup(shutil.rmtree, self.work, True)
        self.stack = contextlib.ExitStack()
        self.addCleanup(self.stack.close)
        self.stack.enter_context(private_netns())
        _, self.vnetd = start_vnetd(self, os.path.join(self.work, "vnetd"), own_netns=False)
