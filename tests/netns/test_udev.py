#!/usr/bin/env python3
"""Declarative config and the udev handler (issue 8), in a namespace:
`vnetctl udev` is run with udev's own environment (ACTION, SUBSYSTEM,
DEVPATH, INTERFACE, IFINDEX) for taps made with `ip tuntap`, and vnetd's
--config rules adopt, enslave, resize and filter them, and undo it all when
they go. A tap that exists before vnetd starts is found by the scan at
start. `vnetctl config check` names the file, line and key of a mistake."""
import json
import os
import subprocess
import sys
import time
import unittest

from netns_harness import NamespaceTestCase, sanitizer_environment, vnetd_binary  # noqa: E402

CONFIG = """
# created at start, as netdev_add
[[netdev]]
type = "hubport"
id = "h0"
hubid = 1

[[rule]]
match = { subsystem = "net", kind = "tun", driver = "tun", ifname = "vm*" }
netdev = { type = "tap", id = "{ifname}" }
nic = { id = "nic-{ifname}", model = "virtio-net-pci" }
bridge = "br0"
mtu = 1400
offloads = ["csum", "tso4"]
"""


def vnetctl_binary():
    return os.path.join(os.path.dirname(os.path.abspath(vnetd_binary())), "vnetctl")


class UdevInNamespace(NamespaceTestCase):
    def setUp(self):
        super().setUp()
        self.sh("ip link add br0 type bridge && ip link set br0 up && ip tuntap add dev vmpre0 mode tap")
        self.config = os.path.join(self.work, "vnetd.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.sock = os.path.join(self.work, "qmp.sock")
        self.start_daemon(extra_args=["--config", self.config])

    def udev(self, action, ifname):
        """vnetctl udev as udev runs it: in the namespace, udev's environment."""
        env = {"PATH": os.environ["PATH"], "ACTION": action, "SUBSYSTEM": "net", "INTERFACE": ifname,
               "DEVPATH": f"/devices/virtual/net/{ifname}", "SEQNUM": "1", **sanitizer_environment()}
        index = self.sh(f"cat /sys/class/net/{ifname}/ifindex 2>/dev/null || true").strip()
        if index:
            env["IFINDEX"] = index
        start = time.monotonic()
        done = subprocess.run(["ip", "netns", "exec", self.ns, vnetctl_binary(), "-s", self.sock, "udev"],
                              env=env, capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        return time.monotonic() - start

    def netdevs(self):
        return {n["id"]: n for n in self.client.cmd("query-netdevs")}

    def wait_for(self, predicate, what, timeout=5):
        deadline = time.monotonic() + timeout
        while not predicate():
            self.assertLess(time.monotonic(), deadline, f"{what}; netdevs: {sorted(self.netdevs())}")
            time.sleep(0.02)

    def ethtool_values(self, ifname):
        """ETHTOOL_GTXCSUM and ETHTOOL_GTSO, read in the namespace."""
        out = self.sh(f"{sys.executable} -c '{ETHTOOL_READ}' {ifname}")
        return dict(zip(("tx-checksum", "tso"), map(int, out.split())))

    def link(self, ifname):
        return json.loads(self.sh(f"ip -d -j link show {ifname}"))[0]

    def test_rules_adopt_configure_and_undo(self):
        # At start: the config's netdev, and the scan adopted the tap already there.
        self.assertIn("h0", self.netdevs())
        self.wait_for(lambda: "vmpre0" in self.netdevs(), "vmpre0 was not adopted by the scan at start")

        self.sh("ip tuntap add dev vm1 mode tap vnet_hdr; ip tuntap add dev other0 mode tap")
        took = self.udev("add", "vm1")
        self.assertLess(took, 2.0, "the handler waited for the rules to be applied")
        self.wait_for(lambda: "nic-vm1" in self.netdevs(), "vm1 was not adopted")
        netdevs = self.netdevs()
        tap = netdevs["vm1"]
        self.assertEqual((tap["type"], tap["details"]["ifname"], tap["details"]["created"]), ("tap", "vm1", False))
        self.assertEqual(netdevs["nic-vm1"]["peer"], "vm1")
        self.assertTrue(netdevs["nic-vm1"]["details"]["rx-filter-enforced"])
        link = self.link("vm1")
        self.assertEqual((link.get("master"), link["mtu"]), ("br0", 1400))
        # TUNSETOFFLOAD csum+tso4 on vnetd's queue: the kernel now offers them.
        self.assertEqual(self.ethtool_values("vm1"), {"tx-checksum": 1, "tso": 1})
        self.assertEqual(self.ethtool_values("other0"), {"tx-checksum": 0, "tso": 0})

        # A change event is no second adoption; a device no rule matches is left alone.
        self.udev("change", "vm1")
        self.udev("add", "other0")
        self.client.sync()
        time.sleep(0.2)
        ids = sorted(self.netdevs())
        self.assertEqual(ids, ["h0", "nic-vm1", "nic-vmpre0", "vm1", "vmpre0"])
        self.assertNotIn("master", self.link("other0"))

        # Gone: what was adopted for it goes too (the NIC first).
        self.sh("ip link del vm1")
        self.udev("remove", "vm1")
        self.wait_for(lambda: "vm1" not in self.netdevs() and "nic-vm1" not in self.netdevs(),
                      "what was adopted for vm1 is still there")
        # Adopted, not created: stopping vnetd leaves vmpre0 in place.
        self.stop_daemon()
        self.assertIn("vmpre0", self.sh("ip -br link show"))

    def test_the_real_chain_through_systemd_udevd(self):
        """kernel uevent -> systemd-udevd (in this namespace, with only
        vnetctl's rules) -> RUN+= vnetctl udev -> vnetd's rule."""
        udevd = next((p for p in ("/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd")
                      if os.access(p, os.X_OK)), None)
        self.assertIsNotNone(udevd, "systemd-udevd is missing: install Debian's udev (scripts/install-deps does)")
        rules, empty = os.path.join(self.work, "rules"), os.path.join(self.work, "empty")
        os.makedirs(rules)
        os.makedirs(empty)
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "udev", "90-vnetctl.rules")) as f:
            template = f.read()
        with open(os.path.join(rules, "90-vnetctl.rules"), "w") as f:
            # udevd runs RUN+= programs in udev's environment only: the
            # sanitizer options go in by env(1).
            options = " ".join(f"{k}={v}" for k, v in sanitizer_environment().items())
            f.write(template.replace("@VNETCTL_BINDIR@/vnetctl udev",
                                     f"/usr/bin/env {options} {vnetctl_binary()} -s {self.sock} udev"))
        # Its own /run/udev and rules, in a mount namespace of its own: the
        # host's udevd (if any) and rules are not touched. Uevents of this
        # namespace's net devices go to this namespace's listeners only.
        script = (f"mkdir -p /run/udev && mount -t tmpfs tmpfs /run/udev && mount --bind {rules} /lib/udev/rules.d"
                  f" && mount --bind {empty} /etc/udev/rules.d && exec {udevd}")
        log = open(os.path.join(self.work, "udevd.log"), "w")
        self.addCleanup(log.close)
        daemon = subprocess.Popen(["ip", "netns", "exec", self.ns, "unshare", "-m", "sh", "-c", script],
                                  stdout=log, stderr=log)

        def stop():
            daemon.terminate()
            daemon.wait(10)
        self.addCleanup(stop)
        time.sleep(1.0)  # udevd reads its rules and starts listening
        if daemon.poll() is not None:
            with open(log.name) as f:
                self.fail("systemd-udevd exited: " + f.read()[-2000:])
        self.sh("ip tuntap add dev vm9 mode tap")
        try:
            self.wait_for(lambda: "nic-vm9" in self.netdevs(), "the uevent of vm9 did not reach vnetd's rules", 10)
            self.assertEqual(self.link("vm9").get("master"), "br0")
            self.sh("ip link del vm9")
            self.wait_for(lambda: "vm9" not in self.netdevs(), "the remove uevent of vm9 did not reach vnetd", 10)
        except AssertionError as failure:
            with open(log.name) as f:
                raise AssertionError(f"{failure}\nsystemd-udevd's log:\n{f.read()[-3000:]}") from None

    def test_config_check_names_file_line_and_key(self):
        check = [vnetctl_binary(), "config", "check"]
        good = subprocess.run(check + [self.config], capture_output=True, text=True)
        self.assertEqual(good.returncode, 0, good.stderr)
        self.assertIn("1 netdevs, 1 rules: ok", good.stdout)
        bad = os.path.join(self.work, "bad.toml")
        cases = {
            '[[netdev]]\ntype = "tap"\nid = "t0"\nqueues = "two"\n':
                (":4: key 'netdev': Parameter 'queues' expects", None),
            '[[rule]]\nmatch = { ifname = "x*" }\nmtu = 10\n': (":3: key 'rule.mtu'", None),
            '[[rule]]\nmatch = { colour = "red" }\nbridge = "br0"\n': (":2: key 'match.colour'", None),
            '[[netdev]]\ntype = "tap"\nid = \n': (":3:", None),
            '[[rule]]\nmatch = { ifname = "x*" }\nnetdev = { type = "hubport", id = "x", hubid = 1 }\n':
                (":3: key 'rule.netdev.type'", None),
            '[[rule]]\nmatch = { subsystem = "vdpa" }\ndriver = "e1000"\n': (":3: key 'rule.driver'", None),
            '[[rule]]\nmatch = { subsystem = "vdpa" }\nvdpa = { name = "v0", mac = "xx" }\n':
                (":3: key 'rule.vdpa.mac'", None),
            '[[rule]]\nmatch = { subsystem = "vdpa", mgmtdev = "vduse" }\nbridge = "br0"\n': (":1: key 'rule'", None),
            '[[rule]]\nmatch = { ifname = "x*" }\ndriver = "vhost_vdpa"\n': (":1: key 'rule'", None),
        }
        for text, (expected, _) in cases.items():
            with open(bad, "w") as f:
                f.write(text)
            done = subprocess.run(check + [bad], capture_output=True, text=True)
            self.assertNotEqual(done.returncode, 0, text)
            self.assertIn(bad + expected, done.stderr, f"for:\n{text}")
        # vnetd refuses to start on such a file, with the same words.
        with open(bad, "w") as f:
            f.write('[[rule]]\nmatch = { ifname = "x*" }\nnetdev = { type = "hubport", id = "x", hubid = 1 }\n')
        failed = subprocess.run(["ip", "netns", "exec", self.ns, vnetd_binary(), "--socket",
                                 os.path.join(self.work, "other.sock"), "--state-dir",
                                 os.path.join(self.work, "state2"), "--config", bad],
                                capture_output=True, text=True, timeout=20)
        self.assertEqual(failed.returncode, 2)
        self.assertIn(bad + ":3: key 'rule.netdev.type'", failed.stderr)


ETHTOOL_READ = (
    "import array, fcntl, socket, struct, sys\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "for cmd in (0x16, 0x1e):\n"
    "    value = array.array(\"I\", [cmd, 0])\n"
    "    fcntl.ioctl(s.fileno(), 0x8946, struct.pack(\"16sP\", sys.argv[1].encode(), value.buffer_info()[0]))\n"
    "    print(value[1])\n")


if __name__ == "__main__":
    unittest.main()
