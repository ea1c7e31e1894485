#!/usr/bin/env python3
"""vnetctl-cni first in a network configuration list, Debian's tuning plugin
after it (SPEC.md section 3): tuning gets vnetctl-cni's result as prevResult
and changes the tap (MAC from the runtime's `mac` capability, promiscuous
mode, an interface sysctl); CHECK runs down the chain with the final result;
DEL runs in reverse with it. tuning speaks CNI up to 1.0.0, so the list is
1.0.0, as a runtime would pick for it."""
import json

import cni_harness
from cni_harness import Attachment, CniTestCase


class TuningChain(CniTestCase):
    def chain(self, version="1.0.0"):
        tuning = {"type": "tuning", "capabilities": {"mac": True}, "promisc": True,
                  "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}, "dataDir": str(self.work / "tuning")}
        return self.runtime(self.plugin_conf(mtu=1450, ipam=self.host_local(gateway="10.88.0.1")), tuning,
                            version=version)

    def test_add_check_del_through_the_chain(self):
        runtime = self.chain()
        netns = self.netns()
        ns = self.ns_name(netns)
        attachment = Attachment("pod-a", netns, capability_args={"mac": "02:11:22:33:44:66"})
        result = runtime.add(attachment)
        # tuning's result is vnetctl-cni's with the MAC it set.
        self.assertEqual(result["cniVersion"], "1.0.0")
        self.assertEqual(len(result["interfaces"]), 1)
        self.assertEqual(result["interfaces"][0]["mac"], "02:11:22:33:44:66")
        self.assertEqual(result["interfaces"][0]["sandbox"], netns)
        self.assertEqual(result["ips"][0]["interface"], 0)
        link = self.link(netns, "eth0")
        self.assertEqual(link["address"], "02:11:22:33:44:66")
        self.assertIn("PROMISC", link["flags"])
        self.assertEqual(link["mtu"], 1450)
        self.assertEqual(self.ns_run(netns, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify").stdout.strip(), "1")
        self.assertEqual(self.addresses(netns, "eth0"), [result["ips"][0]["address"]])

        # vnetctl-cni's CHECK sees the MAC tuning set, as the final result says.
        runtime.check(attachment)
        # A change behind both plugins' backs: vnetctl-cni's CHECK, first in the chain, says so.
        address = result["ips"][0]["address"]
        cni_harness.run("ip", "-n", ns, "addr", "del", address, "dev", "eth0")
        with self.assertRaises(cni_harness.PluginError) as failed:
            runtime.check(attachment)
        self.assertEqual(failed.exception.code, 102)
        self.assertEqual(failed.exception.rc, 1)
        cni_harness.run("ip", "-n", ns, "addr", "add", address, "dev", "eth0")
        runtime.check(attachment)

        runtime.delete(attachment)
        self.assert_gone(netns, "eth0")
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_the_chain_with_040(self):
        runtime = self.chain("0.4.0")
        attachment = Attachment("pod-b", self.netns(), capability_args={"mac": "02:11:22:33:44:77"})
        result = runtime.add(attachment)
        self.assertEqual(result["cniVersion"], "0.4.0")
        self.assertEqual(result["ips"][0]["version"], "4")
        self.assertEqual(result["interfaces"][0]["mac"], "02:11:22:33:44:77")
        runtime.check(attachment)
        runtime.delete(attachment)
        self.assertEqual(self.allocations(), {})

    def test_chained_after_another_plugin_appends_its_interface(self):
        # vnetctl-cni second in a list: it passes prevResult on and adds its tap after it.
        first = self.runtime(self.plugin_conf(ipam=self.host_local(gateway="10.88.0.1")), version="1.0.0")
        netns = self.netns()
        eth0 = Attachment("pod-c", netns)
        prev = first.add(eth0)
        second_conf = self.plugin_conf(ipam=self.host_local(subnet="10.99.0.0/24"))
        second = self.runtime(second_conf, version="1.0.0")
        net1 = Attachment("pod-c", netns, ifname="net1")
        config = second.request_config(second_conf, prev, net1)
        rc, result, err = self.cni("ADD", config, net1)
        self.assertEqual(rc, 0, err)
        self.assertEqual([i["name"] for i in result["interfaces"]], ["eth0", "net1"])
        self.assertEqual([ip["interface"] for ip in result["ips"]], [0, 1])
        self.assertTrue(result["ips"][1]["address"].startswith("10.99.0."))
        rc, out, err = self.cni("CHECK", second.request_config(second_conf, result, net1), net1)
        self.assertEqual((rc, out), (0, None), err)
        rc, out, err = self.cni("DEL", second.request_config(second_conf, result, net1), net1)
        self.assertEqual((rc, out), (0, None), err)
        self.assert_gone(netns, "net1")
        self.assertIsNotNone(self.link(netns, "eth0"))
        first.delete(eth0)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(json.dumps(self.cni_netdevs()), "{}")


if __name__ == "__main__":
    cni_harness.main()
