#!/usr/bin/env python3
"""vnetctl-cni's own records of its attachments (docs/cni.md, "Records"):
one file per attachment under dataDir, written before the IPAM's ADD and
removed after the IPAM's DEL, so that what vnetd forgets by itself (a tap
removed with its namespace) or never learnt (a plugin killed between the
IPAM's ADD and netdev_add) is still released: by GC with the runtime's list,
by a DEL, or by the attachment's retried ADD."""
import json
import os
import stat
import subprocess

import cni_harness
from cni_harness import Attachment, CniTestCase

# An IPAM that is Debian's host-local, except that with the file KILL_PLUGIN
# beside it, an ADD kills the plugin that ran it (SIGKILL) once host-local has
# reserved the address: the plugin dies between the IPAM's ADD and netdev_add.
KILLER_IPAM = r"""#!/usr/bin/env python3
import os, signal, subprocess, sys
here = os.path.dirname(os.path.realpath(__file__))
done = subprocess.run(["/usr/lib/cni/host-local"], stdin=sys.stdin, capture_output=True)
if os.environ.get("CNI_COMMAND") == "ADD" and os.path.exists(os.path.join(here, "KILL_PLUGIN")):
    os.kill(os.getppid(), signal.SIGKILL)
    sys.exit(0)
sys.stdout.buffer.write(done.stdout)
sys.exit(done.returncode)
"""


class Records(CniTestCase):
    def test_a_record_per_attachment_from_add_to_del(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local(), mtu=1400))
        pod = Attachment("pod0", self.netns(), cni_args="IgnoreUnknown=1;K8S_POD_NAME=p0")
        result = runtime.add(pod)
        netdev_id = cni_harness.netdev_id_for("vnettest", "pod0", "eth0")
        records = self.records()
        self.assertEqual(set(records), {netdev_id})
        record = records[netdev_id]
        self.assertEqual({k: record[k] for k in ("network", "container-id", "ifname", "netns", "netdev")},
                         {"network": "vnettest", "container-id": "pod0", "ifname": "eth0", "netns": pod.netns,
                          "netdev": netdev_id})
        self.assertEqual(record["data"]["args"], "IgnoreUnknown=1;K8S_POD_NAME=p0")
        self.assertEqual(record["data"]["ipam"]["type"], "host-local")
        self.assertEqual(record["data"]["ipam"]["config"]["ipam"], self.host_local())
        self.assertEqual(record["data"]["ipam"]["result"]["ips"][0]["address"], result["ips"][0]["address"])
        # The same data vnetd keeps with the tap.
        self.assertEqual(record["data"], self.cni_netdevs()[netdev_id]["details"]["attachment"]["data"])
        # Only root reads it; nothing but the record in the directory.
        self.assertEqual(stat.S_IMODE(os.stat(self.data_dir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(self.data_dir / "vnettest" / f"{netdev_id}.json").st_mode), 0o600)
        self.assertEqual(os.listdir(self.data_dir / "vnettest"), [f"{netdev_id}.json"])
        runtime.check(pod)
        runtime.delete(pod)
        self.assertEqual(self.records(), {})
        self.assertEqual(self.allocations(), {})
        # A second DEL, with no record and no netdev left.
        runtime.delete(pod)

    def test_a_failed_add_leaves_no_record(self):
        netns = self.netns()
        cni_harness.run("ip", "-n", self.ns_name(netns), "link", "add", "eth0", "type", "bridge")
        conf = dict(self.plugin_conf(ipam=self.host_local()), name="vnettest", cniVersion="1.1.0")
        self.assert_cni_error(self.cni("ADD", conf, Attachment("c1", netns)), 100)
        self.assertEqual(self.records(), {})
        self.assertEqual(self.allocations(), {})
        # dataDir must be an absolute path.
        self.assert_cni_error(self.cni("ADD", dict(conf, dataDir="relative"), Attachment("c1", netns)), 7,
                              '"dataDir"')


class NamespaceGoneWithoutDel(CniTestCase):
    """The runtime never sends DEL (a node lost, its cache lost) and the
    namespace goes: vnetd removes the tap and its record by itself."""

    def delete_namespace_and_wait(self, attachment, netdevs_left=0):
        cni_harness.run("ip", "netns", "del", self.ns_name(attachment.netns))
        self.wait_for(lambda: len([i for i in self.cni_netdevs() if not i.endswith("-nic")]) == netdevs_left,
                      "vnetd to drop the tap of the deleted namespace")

    def test_gc_releases_the_reservation_vnetd_forgot(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local(), **{"anti-spoof": True}))
        lost, kept, listed = (Attachment(name, self.netns()) for name in ("lost", "kept", "listed"))
        for pod in (lost, kept, listed):
            runtime.add(pod)
        self.delete_namespace_and_wait(lost, netdevs_left=2)
        self.delete_namespace_and_wait(listed, netdevs_left=1)
        # vnetd has forgotten both; host-local has not, and the nics stayed, unpeered.
        self.assertEqual(len(self.allocations()), 3)
        lost_id = cni_harness.netdev_id_for("vnettest", "lost", "eth0")
        self.assertIn(f"{lost_id}-nic", self.cni_netdevs())
        self.assertNotIn("peer", self.cni_netdevs()[f"{lost_id}-nic"])

        # "listed" is still in the runtime's list: its DEL will come, GC leaves it.
        self.assertEqual(runtime.gc([kept, listed]), [])
        self.assertEqual({v.split()[0] for v in self.allocations().values()}, {"kept", "listed"})
        self.assertEqual(set(self.records()), {cni_harness.netdev_id_for("vnettest", n, "eth0")
                                               for n in ("kept", "listed")})
        self.assertNotIn(f"{lost_id}-nic", self.cni_netdevs())
        runtime.check(kept)
        # Again: nothing left to do.
        self.assertEqual(runtime.gc([kept, listed]), [])
        self.assertEqual(len(self.allocations()), 2)

        runtime.delete(listed)
        runtime.delete(kept)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})
        self.assertEqual(self.cni_netdevs(), {})

    def test_del_after_vnetd_dropped_the_netdev_releases_the_reservation(self):
        runtime = self.runtime(self.plugin_conf(ipam=self.host_local(), **{"anti-spoof": True}))
        pod = Attachment("pod0", self.netns())
        runtime.add(pod)
        self.delete_namespace_and_wait(pod)
        runtime.delete(pod)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})
        self.assertEqual(self.cni_netdevs(), {}, "the unpeered nic stayed")
        runtime.delete(pod)

    def test_del_releases_with_what_add_allocated_with(self):
        # The configuration changed since the ADD (host-local's dataDir moved):
        # the DEL's own ipam would release nothing; the record's releases.
        plugin = self.plugin_conf(ipam=self.host_local())
        runtime = self.runtime(plugin)
        pod = Attachment("pod0", self.netns())
        runtime.add(pod)
        self.delete_namespace_and_wait(pod)
        moved = dict(plugin, ipam=self.host_local(subnet="10.66.0.0/24", dataDir=str(self.work / "moved")))
        rc, out, err = self.cni("DEL", runtime.request_config(moved, None, pod), pod)
        self.assertEqual((rc, out), (0, None), err)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})


class PluginKilled(CniTestCase):
    """The plugin killed between the IPAM's ADD and netdev_add: only its own
    record knows of the reservation."""

    def setUp(self):
        super().setUp()
        self.killer_dir = self.work / "killer"
        self.killer_dir.mkdir()
        killer = self.killer_dir / "killer-ipam"
        killer.write_text(KILLER_IPAM)
        killer.chmod(0o755)
        os.symlink(killer, self.bin / "killer-ipam")
        self.runtime_ = self.runtime(self.plugin_conf(ipam=self.host_local(type="killer-ipam")))

    def killed_add(self, attachment):
        (self.killer_dir / "KILL_PLUGIN").touch()
        plugin = self.runtime_.conflist["plugins"][0]
        rc, out, _ = self.cni("ADD", self.runtime_.request_config(plugin, None, attachment), attachment)
        (self.killer_dir / "KILL_PLUGIN").unlink()
        self.assertEqual((rc, out), (-9, None), "the plugin was not killed")
        self.assertEqual(len(self.allocations()), 1)
        self.assertEqual(self.cni_netdevs(), {})
        (record,) = self.records().values()
        self.assertEqual(record["container-id"], attachment.container_id)
        self.assertNotIn("result", record["data"]["ipam"])  # written before the IPAM answered

    def test_gc_releases_what_the_killed_add_reserved(self):
        pod = Attachment("pod0", self.netns())
        self.killed_add(pod)
        # A writer's temporary file, its process gone: GC removes it too.
        gone = subprocess.Popen(["true"])
        gone.wait()
        temporary = self.data_dir / "vnettest" / f".cni-0.json.{gone.pid}.tmp"
        temporary.write_text("{")
        self.assertEqual(self.runtime_.gc([]), [])
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})
        self.assertFalse(temporary.exists())
        self.assertEqual(self.runtime_.gc([]), [])

    def test_the_retried_add_releases_first(self):
        pod = Attachment("pod0", self.netns())
        self.killed_add(pod)
        result = self.runtime_.add(pod)
        self.assertEqual(list(self.allocations()), [result["ips"][0]["address"].split("/")[0]])
        self.assertEqual(len(self.records()), 1)
        self.runtime_.check(pod)
        self.runtime_.delete(pod)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})

    def test_del_releases_what_the_killed_add_reserved(self):
        pod = Attachment("pod0", self.netns())
        self.killed_add(pod)
        self.runtime_.delete(pod)
        self.assertEqual(self.allocations(), {})
        self.assertEqual(self.records(), {})


if __name__ == "__main__":
    cni_harness.main()
