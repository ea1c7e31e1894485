#!/usr/bin/env python3
"""vnetctl-cni over many attachments and over vnetd's life (docs/cni.md):
many namespaces each with an eth0, as every pod has; the same name added in
one namespace right after its DEL in another; vnetd killed (SIGKILL) and
started again on its state dir between ADD and DEL; GC with the runtime's
list of attachments to keep."""
import concurrent.futures
import signal

import cni_harness
from cni_harness import Attachment, CniTestCase


class ManyNamespaces(CniTestCase):
    def test_every_pod_has_its_eth0(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local(subnet="10.88.0.0/22")))
        pods = [Attachment(f"pod{i}", self.netns()) for i in range(24)]
        results = [runtime.add(pod) for pod in pods]
        addresses = [r["ips"][0]["address"] for r in results]
        self.assertEqual(len(set(addresses)), len(pods), "two pods got one address")
        macs = {r["interfaces"][0]["mac"] for r in results}
        self.assertEqual(len(macs), len(pods))
        for pod, result in zip(pods, results):
            link = self.link(pod.netns, "eth0")
            self.assertIsNotNone(link, pod.netns)
            self.assertEqual(link["address"], result["interfaces"][0]["mac"])
            self.assertEqual(self.addresses(pod.netns, "eth0"), [result["ips"][0]["address"]])
        self.assertEqual(len(self.cni_netdevs()), len(pods))
        for pod in pods[::3]:
            runtime.check(pod)
        for pod in pods:
            runtime.delete(pod)
            self.assert_gone(pod.netns, "eth0")
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_concurrent_adds_and_dels_of_different_pods(self):
        # Runtimes run different containers' operations in parallel (SPEC.md, "Lifecycle & Ordering").
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local(subnet="10.88.0.0/22")))
        pods = [Attachment(f"par{i}", self.netns()) for i in range(16)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(runtime.add, pods))
        self.assertEqual(len({r["ips"][0]["address"] for r in results}), len(pods))
        for pod, result in zip(pods, results):
            self.assertEqual(self.addresses(pod.netns, "eth0"), [result["ips"][0]["address"]])
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(runtime.delete, pods))
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})

    def test_eth0_in_b_right_after_its_del_in_a(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local()))
        a_ns, b_ns = self.netns(), self.netns()
        for round_ in range(15):
            a = Attachment(f"a{round_}", a_ns)
            b = Attachment(f"b{round_}", b_ns)
            runtime.add(a)
            runtime.delete(a)
            result = runtime.add(b)
            link = self.link(b_ns, "eth0")
            self.assertIsNotNone(link, f"round {round_}: no eth0 in B")
            self.assertIn("UP", link["flags"])
            self.assertEqual(link["address"], result["interfaces"][0]["mac"])
            self.assert_gone(a_ns, "eth0", f"round {round_}: A's eth0 still there")
            runtime.check(b)
            # And back: A again while B still holds its eth0.
            a2 = Attachment(f"a{round_}-again", a_ns)
            runtime.add(a2)
            self.assertIsNotNone(self.link(a_ns, "eth0"))
            self.assertIsNotNone(self.link(b_ns, "eth0"))
            runtime.delete(b)
            runtime.delete(a2)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})


class VnetdRestart(CniTestCase):
    # As vnetd.service runs it: a stop (SIGTERM) leaves the taps for the next vnetd.
    vnetd_args = ("--keep-devices",)

    def test_sigkill_between_add_and_del_loses_nothing(self):
        runtime = self.runtime(self.plugin_conf(queues=2, mtu=1400, ipam=self.host_local(gateway="10.88.0.1")))
        pods = [Attachment(f"pod{i}", self.netns()) for i in range(4)]
        results = {pod.container_id: runtime.add(pod) for pod in pods}
        before = self.cni_netdevs()
        self.restart_vnetd(signal.SIGKILL)
        after = self.cni_netdevs()
        self.assertEqual(set(after), set(before), "vnetd lost attachments over SIGKILL")
        for netdev_id, netdev in after.items():
            self.assertEqual(netdev["details"]["attachment"], before[netdev_id]["details"]["attachment"])
        for pod in pods:
            self.assertEqual(self.link(pod.netns, "eth0")["address"], results[pod.container_id]["interfaces"][0]["mac"])
            runtime.check(pod)
            # A retried ADD finds its attachment in the restarted vnetd.
            self.assertEqual(runtime.add(pod), results[pod.container_id])
        self.assertEqual(len(self.allocations()), len(pods))
        runtime.delete(pods[0])
        self.restart_vnetd(signal.SIGTERM)
        for pod in pods[1:]:
            runtime.check(pod)
            runtime.delete(pod)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.allocations(), {})
        for pod in pods:
            self.assert_gone(pod.netns, "eth0")

    def test_namespace_gone_while_vnetd_was_down(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local()))
        kept, lost = Attachment("kept", self.netns()), Attachment("lost", self.netns())
        runtime.add(kept)
        runtime.add(lost)
        self.vnetd.kill()
        cni_harness.run("ip", "netns", "del", self.ns_name(lost.netns))
        # DEL with vnetd down: the tap went with its namespace, the address is released.
        runtime.delete(lost)
        self.assertEqual(len(self.allocations()), 1)
        self.vnetd.start()
        self.wait_for(lambda: len(self.cni_netdevs()) == 1, "vnetd to drop the tap of the deleted namespace")
        runtime.check(kept)
        runtime.delete(kept)
        self.assertEqual(self.allocations(), {})


class GarbageCollection(CniTestCase):
    def test_gc_removes_what_the_runtime_no_longer_lists(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local()))
        other_net = self.runtime(self.plugin_conf(ipam=self.host_local(subnet="10.77.0.0/24")), name="othernet")
        pods = [Attachment(f"pod{i}", self.netns()) for i in range(5)]
        for pod in pods:
            runtime.add(pod)
        second_if = Attachment("pod0", pods[0].netns, ifname="net1")
        runtime.add(second_if)
        foreign = Attachment("pod1", pods[1].netns, ifname="net2")
        other_net.add(foreign)
        self.assertEqual(len(self.allocations()), 6)

        keep = [pods[0], pods[2]]  # pod0's net1 is not listed: it goes, its eth0 stays
        errors = runtime.gc(keep)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.allocations()), 2, self.allocations())
        self.assertEqual({v.split()[0] for v in self.allocations().values()}, {"pod0", "pod2"})
        self.assert_gone(pods[0].netns, "net1")
        for pod in keep:
            self.assertIsNotNone(self.link(pod.netns, "eth0"))
            runtime.check(pod)
        for pod in (pods[1], pods[3], pods[4]):
            self.assert_gone(pod.netns, "eth0")
        # Another network's attachments are not this GC's.
        self.assertIsNotNone(self.link(pods[1].netns, "net2"))
        self.assertEqual(len(self.allocations("othernet")), 1)
        self.assertEqual(len(self.cni_netdevs()), 3)

        # A second GC with the same list has nothing to do; DEL of a collected
        # attachment still succeeds.
        self.assertEqual(runtime.gc(keep), [])
        runtime.delete(pods[3])
        self.assertEqual(runtime.gc([]), [])
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})
        self.assertEqual(len(self.records("othernet")), 1)
        self.assertEqual(len(self.cni_netdevs()), 1)
        other_net.delete(foreign)
        self.assertEqual(self.cni_netdevs(), {})
        self.assertEqual(self.records("othernet"), {})

    def test_gc_after_a_restart_and_without_a_list(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local()))
        pod = Attachment("pod0", self.netns())
        runtime.add(pod)
        self.restart_vnetd(signal.SIGKILL)
        conf = dict(self.plugin_conf(ipam=self.host_local()), name="vnettest", cniVersion="1.1.0")
        self.assert_cni_error(self.cni("GC", conf), 7, "valid-attachments")
        self.assertEqual(len(self.allocations()), 1)
        self.assertEqual(runtime.gc([]), [])
        self.assertEqual(self.allocations(), {})
        self.assert_gone(pod.netns, "eth0")


if __name__ == "__main__":
    cni_harness.main()
