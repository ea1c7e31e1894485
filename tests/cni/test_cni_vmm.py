#!/usr/bin/env python3
"""What the VMM of a vnetctl-cni attachment gets (docs/cni.md): a tap it
opens by name as the tap's owner ("open-by-name", vnetd holding none of its
queues), and guest anti-spoofing ("anti-spoof", "guest-mac": a nic peered
with the tap allowing only the guest's MAC and the IPAM's addresses)."""
import errno
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import cni_harness
from cni_harness import Attachment, CniTestCase

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "netns"))
from netns_harness import packet_socket  # noqa: E402
from vnetd_harness import as_user  # noqa: E402

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100
VNET_HDR = bytes(10)  # struct virtio_net_hdr, all zero: no offloads
LAUNCHER_UID = LAUNCHER_GID = 4242
# A packet socket bound to ETH_P_ALL sees a frame before tc ingress, where
# anti-spoofing drops it; one bound to a protocol sees what the stack gets.
ETH_P_IP = 0x0800


def in_child(netns, uid, gid, work):
    """work() in a child that entered the namespace at netns, then dropped to
    uid/gid without capabilities (a launcher: no CAP_NET_ADMIN)."""
    return as_user(uid, gid, work, netns=netns)


def open_queue(ifname, flags):
    """TUNSETIFF on a fresh /dev/net/tun fd, as QEMU's tap_open() does."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", ifname.encode(), flags))
    return fd


def tun_info(ifname="eth0"):
    """The tap's tun attributes, from the calling process's namespace."""
    out = subprocess.run(["ip", "-d", "-j", "link", "show", ifname], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]["linkinfo"]["info_data"]


class OpenByName(CniTestCase):
    def tun_flags(self, netns):
        text = self.ns_run(netns, "cat", "/sys/class/net/eth0/tun_flags").stdout
        return int(text, 16)

    def test_the_owner_opens_every_queue_by_name(self):
        netns = self.netns()
        runtime = self.runtime(self.plugin_conf(queues=2, owner=LAUNCHER_UID, ipam=self.host_local(),
                                                **{"open-by-name": True}))
        pod = Attachment("vm0", netns)
        runtime.add(pod)
        flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | (self.tun_flags(netns) & IFF_VNET_HDR)

        def launcher():
            fds = [open_queue("eth0", flags) for _ in range(2)]
            info = tun_info()
            return {"fds": len(fds), "numqueues": info["numqueues"], "user": info["user"]}

        seen = in_child(netns, LAUNCHER_UID, LAUNCHER_GID, launcher)
        self.assertEqual(seen, {"fds": 2, "numqueues": 2, "user": LAUNCHER_UID})  # 4 if vnetd kept its 2
        netdev_id = cni_harness.netdev_id_for("vnettest", "vm0", "eth0")
        self.assertIs(self.cni_netdevs()[netdev_id]["details"]["hold-queues"], False)
        # vnetd holds none of the queues: nothing to hand out.
        reply = self.qmp().execute("netdev-get-fds", {"id": netdev_id})
        self.assertIn("error", reply, reply)
        # Closed with the launcher: the tap stays, with no queue attached.
        self.assertEqual(tun_info_in(self, netns)["numqueues"], 0)
        runtime.check(pod)
        runtime.delete(pod)
        self.assert_gone(netns, "eth0")
        self.assertEqual(self.allocations(), {})

    def test_a_single_queue_tap_is_not_busy(self):
        netns = self.netns()
        runtime = self.runtime(self.plugin_conf(group=LAUNCHER_GID, **{"open-by-name": True}))
        pod = Attachment("vm1", netns)
        runtime.add(pod)
        flags = IFF_TAP | IFF_NO_PI | (self.tun_flags(netns) & IFF_VNET_HDR)

        def launcher():
            open_queue("eth0", flags)  # EBUSY while vnetd held its queue
            try:
                open_queue("eth0", flags)
            except OSError as e:  # the one queue is the launcher's now
                return e.errno
            return 0

        self.assertEqual(in_child(netns, 4343, LAUNCHER_GID, launcher), errno.EBUSY)
        runtime.delete(pod)
        self.assertEqual(self.cni_netdevs(), {})

    def test_refused_without_owner_or_group_and_with_vhost(self):
        attachment = Attachment("vm2", self.netns())
        conf = dict(self.plugin_conf(**{"open-by-name": True}), name="vnettest", cniVersion="1.1.0")
        self.assert_cni_error(self.cni("ADD", conf, attachment), 7, '"open-by-name"')
        self.assert_cni_error(self.cni("ADD", dict(conf, owner=107, vhost=True), attachment), 7, '"open-by-name"')
        self.assert_cni_error(self.cni("ADD", dict(conf, owner=107, **{"open-by-name": 1}), attachment), 7)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.records(), {})


def tun_info_in(test, netns):
    link = test.link(netns, "eth0")
    return link["linkinfo"]["info_data"]


def ipv4_udp_frame(src_mac, src_ip, dst_ip, payload):
    """Ethernet broadcast, IPv4, UDP to port 9 (discard)."""
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                         socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    checksum = sum(struct.unpack("!10H", header))
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    header = header[:10] + struct.pack("!H", ~checksum & 0xFFFF) + header[12:]
    return bytes.fromhex("ffffffffffff") + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00" + header + udp


class AntiSpoof(CniTestCase):
    GUEST_MAC = "52:54:00:12:34:56"

    def received(self, listener, marker, timeout=0.5):
        """The frames with marker seen by the packet socket until quiet."""
        listener.settimeout(timeout)
        got = []
        try:
            while True:
                frame = listener.recv(4096)
                if marker in frame:
                    got.append(frame)
        except (TimeoutError, socket.timeout):
            return got

    def test_only_the_guests_mac_and_address_get_through(self):
        netns = self.netns()
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local(gateway="10.88.0.1"),
                                                **{"anti-spoof": True, "guest-mac": self.GUEST_MAC}))
        pod = Attachment("vm0", netns)
        result = runtime.add(pod)
        address = result["ips"][0]["address"].split("/")[0]
        netdev_id = cni_harness.netdev_id_for("vnettest", "vm0", "eth0")
        nic_id = f"{netdev_id}-nic"
        nic = self.cni_netdevs()[nic_id]
        self.assertEqual((nic["type"], nic["peer"]), ("nic", netdev_id))
        self.assertTrue(nic["details"]["anti-spoof"])
        self.assertEqual(nic["details"]["macaddr"], self.GUEST_MAC)
        self.assertEqual(nic["details"]["allowed-ips"], [f"{address}/32"])

        # As the VMM: the tap's queue from vnetd, frames written behind a
        # zero virtio-net header (the tap has vnet_hdr by default).
        client = self.qmp()
        client.cmd("netdev-get-fds", id=netdev_id)
        fds = client.take_received_fds()
        for fd in fds:
            self.addCleanup(os.close, fd)
        listener = packet_socket(netns, "eth0", ETH_P_IP)
        self.addCleanup(listener.close)
        forged = ipv4_udp_frame(self.GUEST_MAC, "10.88.0.200", "10.88.0.1", b"forged-source")
        legit = ipv4_udp_frame(self.GUEST_MAC, address, "10.88.0.1", b"legit-source")
        os.write(fds[0], VNET_HDR + forged)
        os.write(fds[0], VNET_HDR + legit)
        got = self.received(listener, b"-source")
        self.assertEqual(got, [legit])
        self.assertEqual(self.cni_netdevs()[nic_id]["details"]["spoof-drops"], 1)
        self.assertEqual(self.cni_netdevs()[nic_id]["details"]["spoof-drops-by-reason"]["bad-ipv4"], 1)

        runtime.check(pod)
        runtime.delete(pod)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_check_sees_the_nic_and_a_retried_add_restores_it(self):
        ipam = {"type": "host-local", "dataDir": str(self.ipam_dir),
                "ranges": [[{"subnet": "10.89.0.0/24"}], [{"subnet": "fd00:89::/64"}]]}
        runtime = self.runtime(self.plugin_conf(ipam=ipam, **{"anti-spoof": True}))
        netns = self.netns()
        self.ns_run(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        pod = Attachment("vm1", netns)
        result = runtime.add(pod)
        netdev_id = cni_harness.netdev_id_for("vnettest", "vm1", "eth0")
        nic = self.cni_netdevs()[f"{netdev_id}-nic"]
        # guest-mac's default: the tap's MAC, as the result gives it; each address alone.
        self.assertEqual(nic["details"]["macaddr"], result["interfaces"][0]["mac"])
        self.assertEqual(sorted(nic["details"]["allowed-ips"]),
                         sorted(ip["address"].split("/")[0] + ("/128" if ":" in ip["address"] else "/32")
                                for ip in result["ips"]))
        runtime.check(pod)
        plugin = runtime.conflist["plugins"][0]

        def check():
            return self.cni("CHECK", runtime.request_config(plugin, result, pod), pod)

        client = self.qmp()
        client.cmd("set-anti-spoof", name=f"{netdev_id}-nic", enable=False)
        self.assert_cni_error(check(), 102, "anti-spoofing is off")
        client.cmd("netdev_del", id=f"{netdev_id}-nic")
        self.assert_cni_error(check(), 102, "no anti-spoofing nic")
        # The runtime's retried ADD (as after a plugin killed past the tap) adds it again.
        self.assertEqual(runtime.add(pod), result)
        runtime.check(pod)
        runtime.delete(pod)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_with_open_by_name_the_launcher_is_held_to_its_address(self):
        # KubeVirt-style: the launcher opens the tap by name; anti-spoofing
        # holds whatever fd writes the guest's frames.
        netns = self.netns()
        runtime = self.runtime(self.plugin_conf(owner=LAUNCHER_UID, ipam=self.host_local(),
                                                **{"open-by-name": True, "anti-spoof": True,
                                                   "guest-mac": self.GUEST_MAC}))
        pod = Attachment("vm2", netns)
        address = runtime.add(pod)["ips"][0]["address"].split("/")[0]
        listener = packet_socket(netns, "eth0", ETH_P_IP)
        self.addCleanup(listener.close)
        forged = ipv4_udp_frame(self.GUEST_MAC, "10.88.0.201", "10.88.0.1", b"forged-by-name")
        legit = ipv4_udp_frame(self.GUEST_MAC, address, "10.88.0.1", b"legit-by-name")

        def launcher():
            fd = open_queue("eth0", IFF_TAP | IFF_NO_PI)  # no vnet header: plain frames
            os.write(fd, forged)
            os.write(fd, legit)
            time.sleep(0.2)
            return True

        in_child(netns, LAUNCHER_UID, LAUNCHER_GID, launcher)
        self.assertEqual(self.received(listener, b"-by-name"), [legit])
        netdev_id = cni_harness.netdev_id_for("vnettest", "vm2", "eth0")
        self.assertEqual(self.cni_netdevs()[f"{netdev_id}-nic"]["details"]["spoof-drops"], 1)
        runtime.check(pod)
        runtime.delete(pod)
        self.assertEqual(self.cni_netdevs(), {})

    def test_refusals(self):
        attachment = Attachment("vm3", self.netns())
        conf = dict(self.plugin_conf(), name="vnettest", cniVersion="1.1.0")
        cases = [
            ("guest-mac without anti-spoof", dict(conf, ipam=self.host_local(), **{"guest-mac": self.GUEST_MAC}),
             '"guest-mac"'),
            ("anti-spoof without ipam", dict(conf, **{"anti-spoof": True}), '"anti-spoof"'),
            ("a multicast guest-mac", dict(conf, ipam=self.host_local(),
                                           **{"anti-spoof": True, "guest-mac": "01:00:5e:00:00:01"}), '"guest-mac"'),
            ("anti-spoof not a boolean", dict(conf, ipam=self.host_local(), **{"anti-spoof": "yes"}), '"anti-spoof"'),
        ]
        for what, config, msg in cases:
            with self.subTest(what):
                self.assert_cni_error(self.cni("ADD", config, attachment), 7, msg)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})


if __name__ == "__main__":
    cni_harness.main()
