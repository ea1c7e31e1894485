#!/usr/bin/env python3
"""vnetctl-cni alone, as libcni runs it (docs/cni.md): VERSION, STATUS, ADD,
CHECK and DEL with host-local IPAM; the spec's own example network; every
version's result; the spec's error codes; a failed ADD leaving nothing."""
import json
import os
import re

import cni_harness
from cni_harness import SPEC_VERSIONS, Attachment, CniTestCase


class VersionAndStatus(CniTestCase):
    def test_version_lists_every_version(self):
        for asked in ("1.1.0", "0.4.0", "0.1.0"):
            rc, out, _ = self.cni("VERSION", {"cniVersion": asked})
            self.assertEqual(rc, 0)
            self.assertEqual(out, {"cniVersion": asked, "supportedVersions": SPEC_VERSIONS})

    def test_status_up_and_down(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local()))
        runtime.status()  # vnetd answers; host-local (1.0.0) gets no STATUS, which it does not know
        # A socket nobody serves, and vnetd stopped: 50, "not available".
        conf = dict(self.plugin_conf(socket=str(self.work / "nobody.sock")), name="vnettest", cniVersion="1.1.0")
        out = self.assert_cni_error(self.cni("STATUS", conf), 50, "The plugin is not available")
        self.assertIn("nobody.sock", out["msg"])
        self.vnetd.stop()
        self.assert_cni_error(self.cni("STATUS", dict(conf, socket=self.socket)), 50)
        self.vnetd.start()
        runtime.status()

    def test_status_without_the_ipam_plugin_is_not_available(self):
        conf = dict(self.plugin_conf(ipam={"type": "no-such-ipam"}), name="vnettest", cniVersion="1.1.0")
        self.assert_cni_error(self.cni("STATUS", conf), 50, "no-such-ipam")

    def test_status_and_gc_need_1_1_0(self):
        conf = dict(self.plugin_conf(), name="vnettest", cniVersion="1.0.0")
        self.assert_cni_error(self.cni("STATUS", conf), 1)
        self.assert_cni_error(self.cni("GC", dict(conf, **{"cni.dev/valid-attachments": []})), 1)


class AddCheckDel(CniTestCase):
    def add_one(self, version="1.1.0", **keys):
        netns = self.netns()
        keys.setdefault("ipam", self.host_local(routes=[{"dst": "0.0.0.0/0"}], gateway="10.88.0.1"))
        runtime = self.runtime(self.plugin_conf(**keys), version=version)
        attachment = Attachment("c1", netns)
        return runtime, attachment, runtime.add(attachment)

    def test_add_makes_the_tap_as_configured(self):
        runtime, attachment, result = self.add_one(queues=2, mtu=1400, mac="02:00:00:aa:bb:01", owner=4242,
                                                   group=4343)
        netns = attachment.netns
        self.assertEqual(result["cniVersion"], "1.1.0")
        self.assertEqual(result["interfaces"], [{"name": "eth0", "mac": "02:00:00:aa:bb:01", "mtu": 1400,
                                                 "sandbox": netns}])
        self.assertEqual(len(result["ips"]), 1)
        ip = result["ips"][0]
        self.assertEqual(ip["interface"], 0)
        self.assertEqual(ip["gateway"], "10.88.0.1")
        self.assertRegex(ip["address"], r"^10\.88\.0\.\d+/24$")
        self.assertEqual(result["routes"], [{"dst": "0.0.0.0/0"}])

        link = self.link(netns, "eth0")
        self.assertIsNotNone(link, "no eth0 in the container's namespace")
        self.assertEqual(link["address"], "02:00:00:aa:bb:01")
        self.assertEqual(link["mtu"], 1400)
        self.assertIn("UP", link["flags"])
        self.assertEqual(link["linkinfo"]["info_kind"], "tun")
        tun = link["linkinfo"]["info_data"]
        self.assertEqual(tun["type"], "tap")
        self.assertTrue(tun["multi_queue"], tun)
        self.assertEqual(tun["user"], 4242)
        self.assertEqual(tun["group"], 4343)
        self.assertEqual(self.addresses(netns, "eth0"), [ip["address"]])
        default = [r for r in self.routes(netns) if r["dst"] == "default"]
        self.assertEqual(default[0]["gateway"], "10.88.0.1")
        self.assertEqual(default[0]["dev"], "eth0")
        # vnetd's record of it, under the attachment's id.
        netdevs = self.cni_netdevs()
        self.assertEqual(len(netdevs), 1)
        (netdev,) = netdevs.values()
        self.assertEqual(netdev["details"]["netns"], netns)
        self.assertEqual(netdev["details"]["attachment"]["network"], "vnettest")
        self.assertEqual(netdev["details"]["attachment"]["container-id"], "c1")
        self.assertEqual(netdev["details"]["queues"], 2)
        self.assertEqual(set(self.allocations()), {ip["address"].split("/")[0]})

        self.assertEqual(set(self.records()), set(netdevs))

        runtime.check(attachment)
        runtime.delete(attachment)
        self.assert_gone(netns, "eth0")
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})

    def test_the_specs_example_network(self):
        # SPEC.md's "dbnet", with vnetctl-cni where the example has bridge:
        # host-local's answer carries the gateway, the route and the DNS.
        netns = self.netns()
        plugin = self.plugin_conf(
            ipam=self.host_local(subnet="10.1.0.0/16", gateway="10.1.0.1", routes=[{"dst": "0.0.0.0/0"}]),
            dns={"nameservers": ["10.1.0.1"]})
        runtime = self.runtime(plugin, name="dbnet")
        attachment = Attachment("example", netns, capability_args={"mac": "00:11:22:33:44:66"})
        result = runtime.add(attachment)
        self.assertEqual(result["dns"], {"nameservers": ["10.1.0.1"]})
        self.assertEqual(result["routes"], [{"dst": "0.0.0.0/0"}])
        self.assertEqual(result["ips"][0]["gateway"], "10.1.0.1")
        self.assertTrue(result["ips"][0]["address"].startswith("10.1.") and result["ips"][0]["address"].endswith("/16"))
        self.assertEqual(result["interfaces"][0]["sandbox"], netns)
        runtime.check(attachment)
        runtime.delete(attachment)
        self.assertEqual(self.allocations("dbnet"), {})

    def test_add_without_ipam_is_layer_2(self):
        runtime, attachment, result = self.add_one(ipam=None)
        self.assertEqual(set(result), {"cniVersion", "interfaces"})
        self.assertEqual(self.addresses(attachment.netns, "eth0"), [])
        self.assertIn("UP", self.link(attachment.netns, "eth0")["flags"])
        runtime.check(attachment)
        runtime.delete(attachment)
        self.assert_gone(attachment.netns, "eth0")

    def test_ipv6_and_ipv4_addresses(self):
        ipam = {"type": "host-local", "dataDir": str(self.ipam_dir),
                "ranges": [[{"subnet": "10.89.0.0/24"}], [{"subnet": "fd00:89::/64"}]],
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.89.0.1"}, {"dst": "::/0", "gw": "fd00:89::1"}]}
        netns = self.netns()
        self.ns_run(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        runtime = self.runtime(self.plugin_conf(ipam=ipam))
        attachment = Attachment("dual", netns)
        result = runtime.add(attachment)
        addresses = sorted(ip["address"] for ip in result["ips"])
        self.assertEqual(len(addresses), 2)
        self.assertEqual(self.addresses(netns, "eth0"), addresses)
        six = self.routes(netns, "-6")
        self.assertTrue(any(r["dst"] == "default" and r.get("gateway") == "fd00:89::1" for r in six), six)
        runtime.check(attachment)
        runtime.delete(attachment)
        self.assertEqual(self.allocations(), {})

    def test_a_retried_add_answers_the_same_result(self):
        runtime, attachment, result = self.add_one()
        again = runtime.add(attachment)
        self.assertEqual(again, result)
        self.assertEqual(len(self.allocations()), 1, "the retry allocated a second address")
        self.assertEqual(len(self.cni_netdevs()), 1)
        runtime.delete(attachment)

    def test_the_same_attachment_in_another_namespace_is_refused(self):
        runtime, attachment, _ = self.add_one()
        elsewhere = Attachment("c1", self.netns())
        conf = runtime.request_config(runtime.conflist["plugins"][0], None, elsewhere)
        self.assert_cni_error(self.cni("ADD", conf, elsewhere), 101, "exists in")
        self.assertIsNone(self.link(elsewhere.netns, "eth0"))
        self.assertEqual(len(self.allocations()), 1)
        runtime.delete(attachment)

    def test_del_is_idempotent(self):
        runtime, attachment, _ = self.add_one()
        plugin = runtime.conflist["plugins"][0]
        runtime.delete(attachment, forget=False)
        runtime.delete(attachment, forget=False)  # twice, with prevResult
        runtime.delete(attachment)               # without prevResult
        for case in (Attachment("c1", ""), Attachment("never-added", attachment.netns)):
            rc, out, err = self.cni("DEL", runtime.request_config(plugin, None, case), case)
            self.assertEqual((rc, out), (0, None), err)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_del_without_a_namespace(self):
        runtime, attachment, _ = self.add_one()
        gone = Attachment("c1", "")
        runtime.delete(gone)
        self.assert_gone(attachment.netns, "eth0")
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_del_after_the_namespace_is_gone(self):
        runtime, attachment, _ = self.add_one()
        cni_harness.run("ip", "netns", "del", self.ns_name(attachment.netns))
        runtime.delete(attachment)
        self.assertEqual(self.allocations(), {})
        self.wait_for(lambda: self.cni_netdevs() == {}, "vnetd to drop the netdev of a deleted namespace")
        # And once more, with vnetd down: the tap went with its namespace.
        self.vnetd.stop()
        runtime.delete(attachment)

    def test_del_with_vnetd_down_and_the_tap_still_there_asks_to_try_again(self):
        runtime, attachment, _ = self.add_one()
        self.vnetd.kill()
        plugin = runtime.conflist["plugins"][0]
        conf = runtime.request_config(plugin, runtime.cache[("c1", "eth0")], attachment)
        self.assert_cni_error(self.cni("DEL", conf, attachment), 11, "vnetd")
        self.vnetd.start()
        runtime.delete(attachment)
        self.assert_gone(attachment.netns, "eth0")
        self.assertEqual(self.allocations(), {})

    def test_check_passes_then_fails_on_each_difference(self):
        runtime, attachment, result = self.add_one(mtu=1400)
        netns, ns = attachment.netns, self.ns_name(attachment.netns)
        runtime.check(attachment)
        address = result["ips"][0]["address"]
        plugin = runtime.conflist["plugins"][0]

        def check():
            return self.cni("CHECK", runtime.request_config(plugin, result, attachment), attachment)

        cni_harness.run("ip", "-n", ns, "link", "set", "eth0", "mtu", "1300")
        self.assert_cni_error(check(), 102, "mtu is 1300, prevResult says 1400")
        cni_harness.run("ip", "-n", ns, "link", "set", "eth0", "mtu", "1400")
        cni_harness.run("ip", "-n", ns, "addr", "del", address, "dev", "eth0")
        self.assert_cni_error(check(), 102, f"address {address} is not on eth0")
        cni_harness.run("ip", "-n", ns, "addr", "add", address, "dev", "eth0")
        self.assert_cni_error(check(), 102, "no route to 0.0.0.0/0")
        cni_harness.run("ip", "-n", ns, "route", "add", "default", "via", "10.88.0.1")
        runtime.check(attachment)
        cni_harness.run("ip", "-n", ns, "link", "set", "eth0", "address", "02:00:00:00:00:77")
        self.assert_cni_error(check(), 102, "mac is 02:00:00:00:00:77")
        # prevResult without this attachment's interface, and none at all.
        other = dict(result, interfaces=[dict(result["interfaces"][0], sandbox="/var/run/netns/other")])
        self.assert_cni_error(self.cni("CHECK", runtime.request_config(plugin, other, attachment), attachment), 102,
                              "prevResult has no interface eth0")
        self.assert_cni_error(self.cni("CHECK", runtime.request_config(plugin, None, attachment), attachment), 7,
                              "prevResult")
        # host-local's own CHECK, passed on: the address released behind its back.
        for name in self.allocations():
            os.unlink(self.ipam_dir / "vnettest" / name)
        cni_harness.run("ip", "-n", ns, "link", "set", "eth0", "address", result["interfaces"][0]["mac"])
        rc, out, err = check()
        self.assertNotEqual(rc, 0, "CHECK passed with host-local's reservation gone")
        self.assertIn("host-local", json.dumps(out) + err)
        # The device gone from under vnetd.
        cni_harness.run("ip", "-n", ns, "link", "del", "eth0")
        rc, out, _ = check()
        self.assertNotEqual(rc, 0)
        runtime.delete(attachment)

    def test_check_of_an_attachment_vnetd_does_not_have(self):
        runtime, attachment, result = self.add_one()
        plugin = runtime.conflist["plugins"][0]
        self.qmp().cmd("netdev_del", id=next(iter(self.cni_netdevs())))
        self.assert_cni_error(self.cni("CHECK", runtime.request_config(plugin, result, attachment), attachment), 102,
                              "vnetd has no netdev")
        runtime.delete(attachment)

    def test_every_version_gets_its_own_result_format(self):
        for version in SPEC_VERSIONS:
            with self.subTest(version=version):
                netns = self.netns()
                runtime = self.runtime(self.plugin_conf(ipam=self.host_local(gateway="10.88.0.1")), version=version)
                attachment = Attachment(f"v{version.replace('.', '')}", netns)
                result = runtime.add(attachment)
                self.assertEqual(result["cniVersion"], version)
                if version in ("0.1.0", "0.2.0"):
                    self.assertEqual(set(result), {"cniVersion", "ip4"})
                    self.assertRegex(result["ip4"]["ip"], r"^10\.88\.0\.\d+/24$")
                elif version in ("0.3.0", "0.3.1", "0.4.0"):
                    self.assertEqual(result["ips"][0]["version"], "4")
                    self.assertEqual(set(result["interfaces"][0]), {"name", "mac", "sandbox"})
                else:
                    self.assertNotIn("version", result["ips"][0])
                    self.assertIn("mtu", result["interfaces"][0])
                if version not in ("0.1.0", "0.2.0", "0.3.0", "0.3.1"):
                    runtime.check(attachment)
                runtime.delete(attachment)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.cni_netdevs(), {})

    def test_020_without_an_address_is_refused_before_anything_is_made(self):
        netns = self.netns()
        runtime = self.runtime(self.plugin_conf(), version="0.2.0")
        with self.assertRaises(cni_harness.PluginError) as refused:
            runtime.add(Attachment("c1", netns))
        self.assertEqual(refused.exception.code, 1)
        self.assertEqual(self.cni_netdevs(), {})

    def test_mac_from_runtime_config_and_cni_args(self):
        netns = self.netns()
        plugin = self.plugin_conf(mac="02:00:00:00:00:01", capabilities={"mac": True})
        runtime = self.runtime(plugin)
        by_args = Attachment("args", netns, cni_args="IgnoreUnknown=1;K8S_POD_NAME=p;MAC=02:00:00:00:00:02")
        self.assertEqual(runtime.add(by_args)["interfaces"][0]["mac"], "02:00:00:00:00:02")
        runtime.delete(by_args)
        by_capability = Attachment("cap", netns, capability_args={"mac": "02:00:00:00:00:03"},
                                   cni_args="MAC=02:00:00:00:00:02")
        self.assertEqual(runtime.add(by_capability)["interfaces"][0]["mac"], "02:00:00:00:00:03")
        self.assertEqual(self.link(netns, "eth0")["address"], "02:00:00:00:00:03")
        runtime.delete(by_capability)


class Delegation(CniTestCase):
    """An IPAM that speaks 1.1.0 gets STATUS and GC; one that does not, not."""

    def setUp(self):
        super().setUp()
        self.fake_dir = self.work / "fake"
        self.fake_dir.mkdir()
        fake = self.fake_dir / "fake-ipam"
        fake.write_text(cni_harness.FAKE_IPAM)
        fake.chmod(0o755)
        os.symlink(fake, self.bin / "fake-ipam")

    def calls(self, command):
        log = self.fake_dir / "calls.log"
        if not log.exists():
            return []
        return [c for c in map(json.loads, log.read_text().splitlines()) if c["command"] == command]

    def test_status_is_delegated_to_an_ipam_that_speaks_1_1_0(self):
        runtime = self.runtime(self.plugin_conf(ipam={"type": "fake-ipam"}))
        runtime.status()
        self.assertEqual(len(self.calls("STATUS")), 1)
        (self.fake_dir / "STATUS_FAILS").touch()
        conf = runtime.request_config(runtime.conflist["plugins"][0], None, None)
        out = self.assert_cni_error(self.cni("STATUS", conf), 51, "fake-ipam: no addresses left")
        self.assertIn("fake-ipam", out.get("details", ""))

    def test_gc_is_forwarded_and_releases_with_the_stale_attachments_env(self):
        runtime = self.runtime(self.plugin_conf(ipam={"type": "fake-ipam", "marker": "kept"}))
        stale, kept = Attachment("stale", self.netns(), cni_args="K8S_POD_NAME=gone"), Attachment("kept", self.netns())
        runtime.add(stale)
        runtime.add(kept)
        self.assertEqual(runtime.gc([kept]), [])
        (release,) = self.calls("DEL")
        self.assertEqual((release["container"], release["ifname"]), ("stale", "eth0"))
        stored = json.loads(release["stdin"])
        self.assertEqual(stored["ipam"], {"type": "fake-ipam", "marker": "kept"})
        self.assertEqual(stored["cniVersion"], "1.0.0")  # what the ADD delegated with
        self.assertNotIn("prevResult", stored)
        (gc,) = self.calls("GC")
        self.assertEqual(json.loads(gc["stdin"])["cni.dev/valid-attachments"],
                         [{"containerID": "kept", "ifname": "eth0"}])
        self.assertEqual(len(self.cni_netdevs()), 1)
        runtime.delete(kept)


class Collisions(CniTestCase):
    """A netdev under an attachment's id that is not that attachment is never
    taken for it (a hash collision, or a netdev someone else named cni-...)."""

    def test_the_id_is_the_documented_hash(self):
        self.assertEqual(cni_harness.fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964)  # FNV's test vector
        runtime = self.runtime(self.plugin_conf())
        runtime.add(Attachment("c1", self.netns()))
        self.assertEqual(set(self.cni_netdevs()), {cni_harness.netdev_id_for("vnettest", "c1", "eth0")})

    def test_another_attachment_under_the_id(self):
        netns, elsewhere = self.netns(), self.netns()
        netdev_id = cni_harness.netdev_id_for("vnettest", "c1", "eth0")
        self.qmp().cmd("netdev_add", type="tap", id=netdev_id, ifname="eth0", netns=elsewhere,
                       attachment={"network": "vnettest", "container-id": "someone-else", "ifname": "eth0",
                                   "data": {}})
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local()))
        mine = Attachment("c1", netns)
        plugin = runtime.conflist["plugins"][0]
        out = self.assert_cni_error(self.cni("ADD", runtime.request_config(plugin, None, mine), mine), 101)
        self.assertIn("someone-else", out["msg"])
        self.assertEqual(self.allocations(), {})
        self.assertIsNone(self.link(netns, "eth0"))
        # DEL of c1 leaves the other attachment's tap alone.
        runtime.delete(mine)
        self.assertIn(netdev_id, self.cni_netdevs())
        self.assertIsNotNone(self.link(elsewhere, "eth0"))

    def test_a_netdev_that_is_no_attachment_under_the_id(self):
        netdev_id = cni_harness.netdev_id_for("vnettest", "c2", "eth0")
        self.qmp().cmd("netdev_add", type="hubport", id=netdev_id, hubid=0)
        runtime = self.runtime(self.plugin_conf())
        attachment = Attachment("c2", self.netns())
        plugin = runtime.conflist["plugins"][0]
        self.assert_cni_error(self.cni("ADD", runtime.request_config(plugin, None, attachment), attachment), 101,
                              "is no CNI attachment")
        runtime.delete(attachment)
        self.assertIn(netdev_id, [n["id"] for n in self.qmp().cmd("query-netdevs")])


class Refusals(CniTestCase):
    def conf(self, **keys):
        return dict(self.plugin_conf(**keys), name="vnettest", cniVersion="1.1.0")

    def test_the_specs_error_codes(self):
        attachment = Attachment("c1", self.netns())
        cases = [
            ("incompatible version", self.cni("ADD", dict(self.conf(), cniVersion="2.0.0"), attachment), 1),
            ("unknown key", self.cni("ADD", self.conf(queus=2), attachment), 2),
            ("bad value", self.cni("ADD", self.conf(queues=0), attachment), 7),
            ("bad mtu", self.cni("ADD", self.conf(mtu="big"), attachment), 7),
            ("no name", self.cni("ADD", {"cniVersion": "1.1.0", "type": "vnetctl-cni"}, attachment), 7),
            ("not JSON", self.cni("ADD", None, attachment, stdin_text="{nope"), 6),
            ("missing CNI_NETNS", self.cni("ADD", self.conf(), Attachment("c1", "")), 4),
            ("bad container id", self.cni("ADD", self.conf(), Attachment("-c", attachment.netns)), 4),
            ("not a namespace", self.cni("ADD", self.conf(), Attachment("c1", str(self.work))), 4),
            ("our own namespace", self.cni("ADD", self.conf(), Attachment("c1", "/proc/self/ns/net")), 4),
            ("unknown command", self.cni("ATTACH", self.conf(), attachment), 4),
            ("vnetd down", self.cni("ADD", self.conf(socket=str(self.work / "none.sock")), attachment), 11),
        ]
        for what, outcome, code in cases:
            with self.subTest(what):
                out = self.assert_cni_error(outcome, code)
                self.assertTrue(out["msg"])
        self.assertEqual(self.cni_netdevs(), {})
        self.assertIsNone(self.link(attachment.netns, "eth0"))

    def test_vhost_as_the_host_allows(self):
        attachment = Attachment("c1", self.netns())
        outcome = self.cni("ADD", self.conf(vhost=True, ipam=self.host_local()), attachment)
        if os.path.exists("/dev/vhost-net"):
            self.assertEqual(outcome[0], 0, outcome)
            (netdev,) = self.cni_netdevs().values()
            self.assertTrue(netdev["details"]["vhost"])
            rc, _, err = self.cni("DEL", self.conf(vhost=True, ipam=self.host_local()), attachment)
            self.assertEqual(rc, 0, err)
        else:
            # vnetd's refusal, passed on; nothing left.
            out = self.assert_cni_error(outcome, 100, "vhost")
            self.assertIn("netdev_add", out["msg"])
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_unknown_key_names_key_and_value(self):
        out = self.assert_cni_error(self.cni("ADD", self.conf(ipMasq=True), Attachment("c1", self.netns())), 2)
        self.assertIn('"ipMasq": true', out["msg"])

    def test_a_failed_add_leaves_nothing(self):
        # vnetd refuses (the namespace has an eth0 already): the address goes back.
        netns = self.netns()
        cni_harness.run("ip", "-n", self.ns_name(netns), "link", "add", "eth0", "type", "bridge")
        attachment = Attachment("c1", netns)
        out = self.assert_cni_error(self.cni("ADD", self.conf(ipam=self.host_local()), attachment), 100)
        self.assertIn("netdev_add", out["msg"])
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.cni_netdevs(), {})
        # The addresses cannot be configured (a gateway off every link): tap and address both go.
        netns2 = self.netns()
        ipam = self.host_local(routes=[{"dst": "192.0.2.0/24", "gw": "203.0.113.1"}])
        out = self.assert_cni_error(self.cni("ADD", self.conf(ipam=ipam), Attachment("c2", netns2)), 104)
        self.assertIn("RTM_NEWROUTE", out["msg"])
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.cni_netdevs(), {})
        self.assert_gone(netns2, "eth0")
        # The IPAM fails (its range is used up): its error, passed on as it is; nothing made.
        ipam = self.host_local(subnet="10.90.0.0/30")  # one address to give: .1 is the gateway
        netns3 = self.netns()
        first = Attachment("c3", netns3)
        rc, _, err = self.cni("ADD", self.conf(ipam=ipam), first)
        self.assertEqual(rc, 0, err)
        out = self.assert_cni_error(self.cni("ADD", self.conf(ipam=ipam), Attachment("c4", self.netns())), 999)
        self.assertRegex(out["msg"], re.compile("no IP addresses available|range", re.I))
        self.assertEqual(len(self.cni_netdevs()), 1)
        self.assertEqual(len(self.allocations()), 1)
        self.assertEqual(len(self.records()), 1)
        rc, _, err = self.cni("DEL", self.conf(ipam=ipam), first)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})


if __name__ == "__main__":
    cni_harness.main()
