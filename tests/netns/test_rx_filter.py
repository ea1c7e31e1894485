#!/usr/bin/env python3
"""The guest's rx filter enforced in the kernel (issue 5), in a namespace:

    veth v0 --- v1 [bridge br0] --- tap (vnetd tap netdev, br=br0) <- nic n0

Frames of every class are sent from v0 and read from the tap's queue fd
obtained with netdev-get-fds, as a VMM would read it. The NIC's filter (a
BPF program on the tap) decides what arrives."""
import json
import os
import select
import socket
import subprocess
import sys
import time
import unittest

from netns_harness import NamespaceTestCase  # noqa: E402

OWN = "52:54:00:12:34:56"
OTHER = "52:54:00:00:00:ff"
LISTED = "02:00:00:00:00:07"
MC_LISTED = "01:00:5e:00:00:01"
MC_OTHER = "33:33:00:00:00:02"
BCAST = "ff:ff:ff:ff:ff:ff"
PROBE_ETHERTYPE = b"\x88\xb5"  # IEEE local experimental: nothing else sends it

STRICT = {"promiscuous": False, "multicast": "normal", "unicast": "normal", "vlan": "normal",
          "broadcast-allowed": True, "multicast-overflow": False, "unicast-overflow": False,
          "main-mac": OWN, "vlan-table": [5], "unicast-table": [LISTED], "multicast-table": [MC_LISTED]}


class RxFilterInNamespace(NamespaceTestCase):
    def setUp(self):
        super().setUp()
        self.sh("ip link add br0 type bridge && ip link set br0 up"
                " && ip link add v0 type veth peer name v1 && ip link set v1 master br0"
                " && ip link set v0 up && ip link set v1 up")
        self.start_daemon()
        self.client.cmd("netdev_add", type="tap", id="t0", br="br0", vnet_hdr=False)
        self.client.cmd("netdev_add", type="nic", id="n0", netdev="t0", model="virtio-net-pci")
        self.tap = self.get_tap_fd()
        self.addCleanup(os.close, self.tap)
        # The sender: a packet socket on v0, in the namespace.
        self.sender = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", SENDER], stdin=subprocess.PIPE, text=True)
        self.addCleanup(self.sender.kill)

    def get_tap_fd(self):
        reply = self.client.execute("netdev-get-fds", {"id": "t0"})
        fds = self.client.take_received_fds()
        self.assertEqual(reply, {"return": {"fds": [{"role": "tap", "queue": 0}]}})
        self.assertEqual(len(fds), 1)
        return fds[0]

    def arrivals(self, frames):
        """Sends (dst, vlan) frames from v0; returns those read from the tap, in order."""
        while select.select([self.tap], [], [], 0)[0]:
            os.read(self.tap, 65536)
        self.sender.stdin.write(json.dumps(frames) + "\n")
        self.sender.stdin.flush()
        got, deadline = [], time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if not select.select([self.tap], [], [], 0.1)[0]:
                if len(got) == len(frames):
                    break
                continue
            frame = os.read(self.tap, 65536)
            vlan = None
            if frame[12:14] == b"\x81\x00":
                vlan = int.from_bytes(frame[14:16], "big") & 0xFFF
                frame = frame[:12] + frame[16:]
            if frame[12:14] == PROBE_ETHERTYPE:
                got.append([":".join(f"{b:02x}" for b in frame[:6]), vlan])
        return got

    def set_filter(self, **changes):
        rx = dict(STRICT, **changes)
        self.client.cmd("set-rx-filter", name="n0", **rx)

    ALL = [[OWN, None], [OTHER, None], [LISTED, None], [MC_LISTED, None], [MC_OTHER, None], [BCAST, None],
           [OWN, 5], [OWN, 6]]

    def test_fresh_nic_lets_everything_through(self):
        self.assertEqual(self.arrivals(self.ALL), self.ALL)

    def test_normal_modes_follow_the_tables(self):
        self.set_filter()
        self.assertEqual(self.arrivals(self.ALL),
                         [[OWN, None], [LISTED, None], [MC_LISTED, None], [BCAST, None], [OWN, 5]])

    def test_modes_broadcast_and_overflow(self):
        self.set_filter(unicast="all", multicast="none", **{"broadcast-allowed": False})
        self.assertEqual(self.arrivals(self.ALL), [[OWN, None], [OTHER, None], [LISTED, None], [OWN, 5]])
        self.set_filter(unicast="none", **{"multicast-overflow": True})
        self.assertEqual(self.arrivals(self.ALL), [[MC_LISTED, None], [MC_OTHER, None], [BCAST, None]])
        self.set_filter(vlan="all")
        self.assertIn([OWN, 6], self.arrivals(self.ALL))

    def test_counters_event_rule_and_readback(self):
        self.client.take_events()
        self.set_filter()
        self.set_filter()
        events = self.client.take_events("NIC_RX_FILTER_CHANGED")
        self.assertEqual(len(events), 1, "NIC_RX_FILTER_CHANGED again before a query-rx-filter")
        self.assertEqual(events[0]["data"], {"name": "n0", "path": "/machine/peripheral/n0/virtio-backend"})
        info = self.client.cmd("query-rx-filter", name="n0")[0]
        self.assertEqual(dict(info, name=None), dict(STRICT, name=None))
        self.set_filter()
        self.client.sync()
        self.assertEqual(len(self.client.take_events("NIC_RX_FILTER_CHANGED")), 1, "no event after the query")
        before = self.nic_details()
        self.assertTrue(before["rx-filter-enforced"])
        self.arrivals(self.ALL)
        after = self.nic_details()
        # At least our 5 passed and 3 dropped frames (the bridge may send its own).
        self.assertGreaterEqual(after["rx-filter-passed"] - before["rx-filter-passed"], 5)
        self.assertGreaterEqual(after["rx-filter-dropped"] - before["rx-filter-dropped"], 3)

    def nic_details(self):
        return [n for n in self.client.cmd("query-netdevs") if n["id"] == "n0"][0]["details"]

    def test_deleting_the_nic_lifts_its_filter(self):
        self.set_filter()
        self.client.cmd("netdev_del", id="n0")
        self.assertEqual(self.arrivals(self.ALL), self.ALL)

    def test_bad_filters_are_refused_and_change_nothing(self):
        self.set_filter()
        cases = [({"main-mac": "52:54:00:12:34"}, "main-mac"),
                 ({"unicast-table": [f"02:00:00:00:00:{i:02x}" for i in range(65)]}, "at most 64"),
                 ({"vlan-table": [4096]}, "VLAN id"),
                 ({"multicast-table": [OWN]}, "multicast")]
        for changes, words in cases:
            with self.subTest(changes=list(changes)):
                reply = self.client.execute("set-rx-filter", dict(STRICT, name="n0", **changes))
                self.assertIn(words, reply["error"]["desc"])
        self.assertEqual(self.client.cmd("query-rx-filter", name="n0")[0]["unicast-table"], [LISTED])
        reply = self.client.execute("set-rx-filter", dict(STRICT, name="t0"))
        self.assertEqual(reply["error"]["desc"], "net client(t0) isn't a NIC")


SENDER = r'''
import json, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("v0", 0))
for line in sys.stdin:
    for dst, vlan in json.loads(line):
        frame = bytes.fromhex(dst.replace(":", "")) + bytes.fromhex("0200000000aa")
        if vlan is not None:
            frame += b"\x81\x00" + vlan.to_bytes(2, "big")
        s.send(frame + b"\x88\xb5" + b"x" * 46)
'''

if __name__ == "__main__":
    unittest.main()
