#!/usr/bin/env python3
"""tap owner= and group= (TUNSETOWNER / TUNSETGROUP), on the real kernel in a
namespace of the test's own: the kernel shows them in sysfs, a process of the
owner's uid (or of the group) without CAP_NET_ADMIN may attach to the tap
(a further queue of a multiqueue one; with both set, it needs both), anyone
else gets EPERM; and they stay
across a restart of vnetd."""
import array
import errno
import fcntl
import json
import os
import signal
import struct
import unittest

from netns_harness import NamespaceTestCase  # noqa: E402

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100
OWNER, GROUP, OTHER, OTHER_GROUP = 1000, 2000, 1001, 1001


class TapOwnerInNamespace(NamespaceTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()

    def sysfs(self, ifname, name):
        return self.sh(f"cat /sys/class/net/{ifname}/{name}").strip()

    def attach_as(self, uid, gid, ifname, groups=()):
        """A child in the test's namespace, dropped to uid/gid (so with no
        capabilities), opens /dev/net/tun and attaches to ifname with the
        device's own flags. Returns "attached" or the errno's name."""
        flags = int(self.sysfs(ifname, "tun_flags"), 16) & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            answer = "child failed"
            try:
                with open(f"/run/netns/{self.ns}") as ns:
                    import ctypes
                    if ctypes.CDLL(None, use_errno=True).setns(ns.fileno(), 0x40000000) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                os.setgroups(list(groups))
                os.setgid(gid)
                os.setuid(uid)
                with open("/proc/self/status") as status:
                    cap_eff = [line.split()[1] for line in status if line.startswith("CapEff:")][0]
                if int(cap_eff, 16) != 0:
                    answer = f"still has capabilities {cap_eff}"
                else:
                    fd = os.open("/dev/net/tun", os.O_RDWR)
                    try:
                        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", ifname.encode(), flags))
                        answer = "attached"
                    except OSError as e:
                        answer = errno.errorcode[e.errno]
                    os.close(fd)
            except BaseException as e:  # noqa: B902 - reported to the parent
                answer = f"child failed: {e!r}"
            os.write(write_end, answer.encode())
            os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 4096).decode()
        os.close(read_end)
        os.waitpid(pid, 0)
        return answer

    def details(self, netdev):
        return {n["id"]: n for n in self.client.cmd("query-netdevs")}[netdev]["details"]

    def test_owner_and_group_in_sysfs_and_who_may_attach(self):
        self.client.cmd("netdev_add", type="tap", id="mq", ifname="vown0", queues=4, owner=OWNER, group=GROUP)
        self.client.cmd("netdev_add", type="tap", id="sq", ifname="vown1", owner=OWNER)
        self.client.cmd("netdev_add", type="tap", id="grp", ifname="vown5", queues=2, group=GROUP)
        self.client.cmd("netdev_add", type="tap", id="plain", ifname="vown2", queues=2)
        self.assertEqual((self.sysfs("vown0", "owner"), self.sysfs("vown0", "group")), (str(OWNER), str(GROUP)))
        self.assertEqual((self.sysfs("vown1", "owner"), self.sysfs("vown1", "group")), (str(OWNER), "-1"))
        self.assertEqual((self.sysfs("vown5", "owner"), self.sysfs("vown5", "group")), ("-1", str(GROUP)))
        # Neither given: root's, so that no other user may attach.
        self.assertEqual((self.sysfs("vown2", "owner"), self.sysfs("vown2", "group")), ("0", "-1"))
        mq = self.details("mq")
        self.assertEqual((mq["owner"], mq["group"], mq["queues"]), (OWNER, GROUP, 4))
        self.assertNotIn("group", self.details("sq"))
        self.assertEqual(self.details("plain")["owner"], 0)

        # Owner and group both set: the kernel (tun_not_capable()) wants both,
        # the owner's euid and the group among the process's groups. Then a
        # fifth queue of the multiqueue tap, without CAP_NET_ADMIN.
        self.assertEqual(self.attach_as(OWNER, OWNER, "vown0", groups=[GROUP]), "attached")
        self.assertEqual(self.attach_as(OWNER, GROUP, "vown0"), "attached")
        self.assertEqual(self.attach_as(OWNER, OWNER, "vown0"), "EPERM")
        self.assertEqual(self.attach_as(OTHER, GROUP, "vown0"), "EPERM")
        self.assertEqual(self.attach_as(OTHER, OTHER_GROUP, "vown0"), "EPERM")
        # Group only: any member, primary or supplementary (in_egroup_p()).
        self.assertEqual(self.attach_as(OTHER, GROUP, "vown5"), "attached")
        self.assertEqual(self.attach_as(OTHER, OTHER_GROUP, "vown5", groups=[GROUP]), "attached")
        self.assertEqual(self.attach_as(OTHER, OTHER_GROUP, "vown5"), "EPERM")
        # The single-queue tap: vnetd holds its one queue, so even its owner
        # gets EBUSY rather than EPERM; a stranger is refused before that.
        self.assertEqual(self.attach_as(OTHER, OTHER_GROUP, "vown1"), "EPERM")
        self.assertEqual(self.attach_as(OWNER, OWNER, "vown1"), "EBUSY")
        # The kernel checks nothing on a tap with neither owner nor group:
        # vnetd makes such a tap root's, so a stranger cannot attach a queue.
        self.assertEqual(self.attach_as(OTHER, OTHER_GROUP, "vown2"), "EPERM")

    def test_owner_of_a_single_queue_tap_attaches_once_vnetd_lets_go(self):
        self.client.cmd("netdev_add", type="tap", id="sq", ifname="vown3", owner=OWNER)
        fds = self.client.cmd("netdev-get-fds", id="sq")
        self.assertEqual(len(fds["fds"]), 1)
        for fd in self.client.take_received_fds():
            os.close(fd)
        # Still vnetd's queue: busy. (The owner check passes before that.)
        self.assertEqual(self.attach_as(OWNER, OWNER, "vown3"), "EBUSY")
        self.assertEqual(self.attach_as(OTHER, OTHER_GROUP, "vown3"), "EPERM")

    def test_bad_owner_and_group_are_refused_and_change_nothing(self):
        cases = [
            ({"owner": -1}, "Parameter 'owner' expects uint32_t"),
            ({"group": 4294967296}, "Parameter 'group' expects uint32_t"),
            ({"owner": "1000"}, "Parameter 'owner' expects uint64"),
            ({"owner": 4294967295}, "owner=4294967295 is not a uid (0 to 4294967294)"),
            ({"group": 4294967295}, "group=4294967295 is not a gid (0 to 4294967294)"),
        ]
        for extra, desc in cases:
            reply = self.client.execute("netdev_add", dict(type="tap", id="bad", ifname="vbad0", **extra))
            self.assertEqual(reply.get("error", {}).get("desc"), desc, f"{extra}: {reply}")
            self.assertEqual(self.client.cmd("query-netdevs"), [])
            self.assertNotIn("vbad0", self.sh("ip -o link show"))

    def test_owner_and_group_stay_across_a_restart(self):
        self.client.cmd("netdev_add", type="tap", id="mq", ifname="vown4", queues=2, owner=OWNER, group=GROUP)
        self.client.cmd("query-netdevs")  # the add's record is durable and the tap persistent by now
        self.client.close()
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait(10)
        os.unlink(os.path.join(self.work, "qmp.sock"))
        self.start_daemon()
        details = self.details("mq")
        self.assertEqual((details["owner"], details["group"], details["queue-fds"]), (OWNER, GROUP, 2))
        self.assertEqual((self.sysfs("vown4", "owner"), self.sysfs("vown4", "group")), (str(OWNER), str(GROUP)))
        self.assertEqual(self.attach_as(OWNER, GROUP, "vown4"), "attached")
        self.assertEqual(self.attach_as(OTHER, GROUP, "vown4"), "EPERM")
        self.client.cmd("netdev_del", id="mq")


if __name__ == "__main__":
    unittest.main()
