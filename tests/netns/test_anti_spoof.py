#!/usr/bin/env python3
"""Guest anti-spoofing in the kernel (issue 16), in a namespace:

    tap (vnetd tap netdev t0, br=br0) <- nic n0 --- [bridge br0] --- v1 === v0 (observer)

Frames are written into the tap's queue fd (from netdev-get-fds), as the
guest's VMM writes them; the anti-spoof program on the tap's tc ingress
decides which reach the bridge. Each frame carries a marker and is sent to
the broadcast address, so the bridge floods what passes to v0, where a
packet socket sees it: what arrives there is what the host let through."""
import os
import select
import signal
import struct
import unittest

from netns_harness import NamespaceTestCase, packet_socket, run, tcx_ingress_programs  # noqa: E402

OWN = bytes.fromhex("525400123456")
OTHER_MAC = bytes.fromhex("525400666666")
BCAST = b"\xff" * 6
A4, O4, Z4 = bytes([10, 0, 0, 5]), bytes([10, 0, 0, 6]), bytes(4)
A6 = bytes.fromhex("20010db8000000000000000000000005")
O6 = bytes.fromhex("20010db9000000000000000000000001")
LL6 = bytes.fromhex("fe80000000000000505400fffe123456")
Z6 = bytes(16)
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALLOWED = ["10.0.0.5/32", "2001:db8::/64"]
REASONS = ["bad-arp", "bad-ipv4", "bad-ipv6", "bad-mac", "bad-na", "other"]


def eth(src, ethertype, payload, vlan=None):
    tag = b"\x81\x00" + struct.pack("!H", vlan) if vlan is not None else b""
    return BCAST + src + tag + struct.pack("!H", ethertype) + payload


def arp(sha, spa, op=1):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + bytes(6) + bytes([10, 0, 0, 1])


def udp(sport, dport):
    return struct.pack("!HHHH", sport, dport, 8, 0)


def ipv4(src, l4, proto=17):
    return struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0) + src + bytes([10, 0, 0, 1]) + l4


def ipv6(src, nxt, l4):
    return struct.pack("!IHBB", 0x60000000, len(l4), nxt, 255) + src + ALL_NODES + l4


def icmp6(icmp_type, target=b""):
    return bytes([icmp_type, 0, 0, 0, 0x20, 0, 0, 0]) + target


# name -> (frame, expected: "pass" or the reason it is dropped for)
LEGIT = {
    "dhcp-discover": eth(OWN, 0x0800, ipv4(Z4, udp(68, 67))),
    "dad-ns": eth(OWN, 0x86DD, ipv6(Z6, 58, icmp6(135, A6))),
    "arp-request": eth(OWN, 0x0806, arp(OWN, A4, 1)),
    "arp-reply": eth(OWN, 0x0806, arp(OWN, A4, 2)),
    "arp-probe": eth(OWN, 0x0806, arp(OWN, Z4)),
    "ipv4-allowed": eth(OWN, 0x0800, ipv4(A4, udp(1000, 2000))),
    "ipv6-allowed": eth(OWN, 0x86DD, ipv6(A6, 17, udp(1000, 2000))),
    "ipv6-link-local": eth(OWN, 0x86DD, ipv6(LL6, 17, udp(1000, 2000))),
    "na-allowed-target": eth(OWN, 0x86DD, ipv6(LL6, 58, icmp6(136, A6))),
    "vlan-ipv4-allowed": eth(OWN, 0x0800, ipv4(A4, udp(1000, 2000)), vlan=5),
    "other-ethertype": eth(OWN, 0x88B5, bytes(46)),
}
SPOOF = {
    "eth-source": (eth(OTHER_MAC, 0x0800, ipv4(A4, udp(1000, 2000))), "bad-mac"),
    "arp-sha": (eth(OWN, 0x0806, arp(OTHER_MAC, A4)), "bad-arp"),
    "arp-spa": (eth(OWN, 0x0806, arp(OWN, O4)), "bad-arp"),
    "ipv4-source": (eth(OWN, 0x0800, ipv4(O4, udp(1000, 2000))), "bad-ipv4"),
    "ipv6-source": (eth(OWN, 0x86DD, ipv6(O6, 17, udp(1000, 2000))), "bad-ipv6"),
    "na-target": (eth(OWN, 0x86DD, ipv6(LL6, 58, icmp6(136, O6))), "bad-na"),
}
OTHER_DROPPED = (eth(OWN, 0x88B5, bytes(46)), "other")


class AntiSpoofInNamespace(NamespaceTestCase):
    def setUp(self):
        super().setUp()
        self.sh("ip link add br0 type bridge mcast_snooping 0 && ip link set br0 up"
                " && ip link add v0 type veth peer name v1 && ip link set v1 master br0"
                " && ip link set v0 up && ip link set v1 up")
        # br_netfilter (when loaded) would trim IP frames to their IP length,
        # markers and all: this bridge is plain layer 2.
        self.sh("for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e $f ] && echo 0 > $f; done; true")
        # Pins must outlive one vnetd: a bpffs mounted here, not in the
        # mount namespace `ip netns exec` gives vnetd.
        self.bpf = os.path.join(self.work, "state", "bpf")
        os.makedirs(self.bpf)
        run("mount", "-t", "bpf", "bpf", self.bpf)
        self.addCleanup(run, "umount", "-l", self.bpf, check=False)
        self.start_daemon()
        self.client.cmd("netdev_add", type="tap", id="t0", br="br0", vnet_hdr=False)
        self.client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr="52:54:00:12:34:56")
        self.client.cmd("netdev-get-fds", id="t0")
        self.tap = self.client.take_received_fds()[0]
        self.addCleanup(os.close, self.tap)
        self.ifname = self.details("t0")["ifname"]
        self.observer = self.packet_socket("v0")
        self.addCleanup(self.observer.close)

    def packet_socket(self, ifname):
        """An AF_PACKET socket in the test's namespace."""
        return packet_socket(f"/run/netns/{self.ns}", ifname)

    def details(self, netdev_id):
        return [n for n in self.client.cmd("query-netdevs") if n["id"] == netdev_id][0]["details"]

    def send(self, frames):
        """Writes each named frame into the tap; returns the names seen on v0."""
        while select.select([self.observer], [], [], 0)[0]:
            self.observer.recv(65536)
        for index, (name, frame) in enumerate(frames.items()):
            marker = b"VNTAS" + struct.pack("!H", index)
            os.write(self.tap, frame.ljust(60, b"\0") + marker)
        names = list(frames)
        seen = set()
        while select.select([self.observer], [], [], 0.5)[0]:
            data = self.observer.recv(65536)
            at = data.rfind(b"VNTAS")
            if at >= 0 and len(data) >= at + 7:
                seen.add(names[struct.unpack("!H", data[at + 5:at + 7])[0]])
        return seen

    def enable(self, **extra):
        self.client.cmd("set-anti-spoof", name="n0", enable=True, **{"allowed-ips": ALLOWED}, **extra)

    def everything(self):
        frames = dict(LEGIT)
        frames.update({"spoof-" + k: f for k, (f, _) in SPOOF.items()})
        return frames

    def ingress_programs(self):
        """Our program's name once per place it is attached on the tap's
        ingress: tcx (where the kernel has it) and cls_bpf."""
        cls_bpf = [line for line in self.sh(f"tc filter show dev {self.ifname} ingress").splitlines()
                   if "handle 0x5653" in line and "anti_spoof" in line]
        return tcx_ingress_programs(self.ns, self.ifname) + ["anti_spoof"] * len(cls_bpf)

    def pins(self):
        found = []
        for root, _, files in os.walk(os.path.join(self.bpf, "anti_spoof_v1")):
            found += [os.path.relpath(os.path.join(root, f), self.bpf) for f in files]
        return sorted(found)

    # -- tests

    def test_without_anti_spoof_everything_passes(self):
        self.assertEqual(self.send(self.everything()), set(self.everything()))
        self.assertFalse(self.details("n0")["anti-spoof"])
        self.assertNotIn("spoof-drops", self.details("n0"))

    def test_spoofs_are_dropped_and_counted_legit_traffic_passes(self):
        self.enable()
        details = self.details("n0")
        self.assertTrue(details["anti-spoof"])
        self.assertEqual(details["allowed-ips"], ALLOWED)
        self.assertEqual(details["other-ethertypes"], "allow")
        self.assertEqual(details["spoof-drops"], 0)
        self.assertEqual(self.ingress_programs(), ["anti_spoof"])
        self.assertEqual(self.send(self.everything()), set(LEGIT), "legit must pass 100%, spoofs 0%")
        after = self.details("n0")
        expected = {reason: 0 for reason in REASONS}
        for _, reason in SPOOF.values():
            expected[reason] += 1
        self.assertEqual(after["spoof-drops-by-reason"], expected)
        self.assertEqual(after["spoof-drops"], len(SPOOF))
        self.assertEqual(after["anti-spoof-passed"], len(LEGIT))

        # other-ethertypes drop: the same spoofs plus other ethertypes.
        self.enable(**{"other-ethertypes": "drop"})
        frames = dict(self.everything(), **{"other-ethertype": OTHER_DROPPED[0]})
        self.assertEqual(self.send(frames), set(LEGIT) - {"other-ethertype"})
        self.assertEqual(self.details("n0")["spoof-drops-by-reason"]["other"], 1)
        self.assertEqual(self.details("n0")["spoof-drops"], 2 * len(SPOOF) + 1)

    def test_disable_lets_everything_through_and_removes_everything(self):
        self.enable()
        # Four maps, and the tcx link where the kernel has tcx.
        self.assertEqual(len(self.pins()), 5 if tcx_ingress_programs(self.ns, self.ifname) else 4, self.pins())
        self.client.cmd("set-anti-spoof", name="n0", enable=False)
        self.assertEqual(self.send(self.everything()), set(self.everything()))
        self.assertFalse(self.details("n0")["anti-spoof"])
        self.assertEqual(self.pins(), [])
        self.assertEqual(self.ingress_programs(), [])

    def test_restart_keeps_enforcing_setting_and_counters(self):
        self.enable(**{"other-ethertypes": "drop"})
        self.assertEqual(self.send(self.everything()), set(LEGIT) - {"other-ethertype"})
        before = self.details("n0")
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait(20)
        # No daemon at all: the kernel still enforces.
        self.assertEqual(self.send(self.everything()), set(LEGIT) - {"other-ethertype"})
        self.client.close()
        os.unlink(os.path.join(self.work, "qmp.sock"))
        self.start_daemon()
        after = self.details("n0")
        for key in ("anti-spoof", "allowed-ips", "other-ethertypes"):
            self.assertEqual(after[key], before[key], key)
        # The drops made while no daemon ran are in the counters too.
        self.assertEqual(after["spoof-drops"], 2 * before["spoof-drops"])
        self.assertEqual(self.send(self.everything()), set(LEGIT) - {"other-ethertype"})
        self.assertEqual(self.details("n0")["spoof-drops"], 3 * before["spoof-drops"])
        self.assertEqual(self.ingress_programs(), ["anti_spoof"], "one filter, the old one replaced")
        self.client.cmd("set-anti-spoof", name="n0", enable=False)
        self.assertEqual(self.pins(), [])
        self.assertEqual(self.ingress_programs(), [])

    def test_bad_input_is_refused_and_changes_nothing(self):
        self.enable()
        before = {k: v for k, v in self.details("n0").items() if "spoof" in k or k == "allowed-ips"}
        cases = [
            ({"name": "t0", "enable": True}, "GenericError", "isn't a NIC"),
            ({"name": "nope", "enable": True}, "DeviceNotFound", "nope"),
            ({"name": "n0", "enable": True, "allowed-ips": ["10.0.0.5/33"]}, "GenericError", "allowed-ips[0]"),
            ({"name": "n0", "enable": True, "allowed-ips": ["10.0.0.7/32", "10.0.0.5/24"]}, "GenericError",
             "bits are set"),
            ({"name": "n0", "enable": True, "allowed-ips": ["bogus"]}, "GenericError", "not a CIDR prefix"),
            ({"name": "n0", "enable": "yes"}, "GenericError", "enable"),
            ({"name": "n0", "enable": True, "allowed-ips": "10.0.0.5/32"}, "GenericError", "allowed-ips"),
            ({"name": "n0", "enable": True, "other-ethertypes": "maybe"}, "GenericError", "maybe"),
            ({"name": "n0", "enable": False, "allowed-ips": []}, "GenericError", "enable true"),
        ]
        for arguments, error_class, words in cases:
            with self.subTest(arguments=arguments):
                reply = self.client.execute("set-anti-spoof", arguments)
                self.assertIn("error", reply, reply)
                self.assertEqual(reply["error"]["class"], error_class)
                self.assertIn(words, reply["error"]["desc"])
        self.client.cmd("netdev_add", type="nic", id="n1", macaddr="52:54:00:12:34:99")
        reply = self.client.execute("set-anti-spoof", {"name": "n1", "enable": True})
        self.assertIn("no tap peer", reply["error"]["desc"])
        self.assertFalse(self.details("n1")["anti-spoof"])
        self.assertEqual({k: v for k, v in self.details("n0").items() if "spoof" in k or k == "allowed-ips"}, before)
        self.assertEqual(self.send(self.everything()), set(LEGIT))

    def test_deleting_the_nic_removes_everything(self):
        self.enable()
        self.client.cmd("netdev_del", id="n0")
        self.assertEqual(self.pins(), [])
        self.assertEqual(self.ingress_programs(), [])
        self.assertEqual(self.send(self.everything()), set(self.everything()))

    def test_deleting_the_tap_removes_everything(self):
        self.enable()
        self.client.cmd("netdev_del", id="t0")
        self.assertEqual(self.pins(), [])
        self.assertFalse(self.details("n0")["anti-spoof"])


    def test_netdev_add_takes_anti_spoof(self):
        self.client.cmd("netdev_del", id="n0")
        self.client.cmd("netdev_add", type="nic", id="n0", netdev="t0", macaddr="52:54:00:12:34:56",
                        **{"anti-spoof": True, "allowed-ips": ALLOWED, "other-ethertypes": "drop"})
        details = self.details("n0")
        self.assertTrue(details["anti-spoof"])
        self.assertEqual(details["allowed-ips"], ALLOWED)
        self.assertEqual(self.send(self.everything()), set(LEGIT) - {"other-ethertype"})
        self.assertEqual(self.details("n0")["spoof-drops"], len(SPOOF) + 1)  # + the other ethertype
        self.client.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        # A nic on a hubport gets a tap of its own (test_nic_on_hub.py); on a user netdev it has none.
        self.client.cmd("netdev_add", type="user", id="u0")
        for arguments, words in [({"id": "n2", "anti-spoof": True}, "needs netdev"),
                                 ({"id": "n2", "netdev": "u0", "anti-spoof": True}, "no tap peer"),
                                 ({"id": "n2", "netdev": "h0", "allowed-ips": ["10.0.0.5/32"]}, "anti-spoof on"),
                                 ({"id": "n2", "netdev": "h0", "anti-spoof": True, "allowed-ips": ["x"]},
                                  "not a CIDR")]:
            with self.subTest(arguments=arguments):
                reply = self.client.execute("netdev_add", dict(type="nic", **arguments))
                self.assertIn(words, reply.get("error", {}).get("desc", ""), reply)
                self.assertFalse([n for n in self.client.cmd("query-netdevs") if n["id"] == "n2"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.bpf, "anti_spoof_v1"))), ["n0"])
        # set-anti-spoof off wins over the options, across a restart too.
        self.client.cmd("set-anti-spoof", name="n0", enable=False)
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait(20)
        self.client.close()
        os.unlink(os.path.join(self.work, "qmp.sock"))
        self.start_daemon()
        self.assertFalse(self.details("n0")["anti-spoof"])
        self.assertEqual(self.pins(), [])
        self.assertEqual(self.ingress_programs(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
