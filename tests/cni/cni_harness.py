"""cni_harness - what the CNI tier's tests share (docs/cni.md, docs/testing.md).

The plugin is driven exactly as libcni drives it: CNI_* variables, the
request configuration on stdin, the result or the spec's error on stdout.
`Runtime` is a small libcni: it runs a network configuration list plugin by
plugin, injecting name, cniVersion, prevResult and runtimeConfig as libcni's
buildOneConfig() and injectRuntimeConfig() do, keeps the final result for
CHECK and DEL (libcni's cache), runs DEL in reverse order, and GC and STATUS
as GCNetworkList() and GetStatusNetworkList() do.

Each test gets its own vnetd (own socket and state dir, in a network
namespace of its own), a CNI_PATH directory with symlinks to the plugin and
to Debian's host-local and tuning, a host-local data directory, the plugin's
own data directory (its records), and fresh network namespaces for its
containers; all removed at its end.

Python 3 standard library only; root. The plugin is $VNETCTL_CNI (else
build/bin/vnetctl-cni), vnetd $VNETD (else build/bin/vnetd).
"""
import copy
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from vnetd_harness import (REPO, QmpClient, Vnetd, vnetd_binary, watch_sanitizer_reports,  # noqa: E402,F401
                           watch_stderr_log)

CNI_PLUGINS_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
PEERS = ("host-local", "tuning")
SPEC_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
_ns_counter = itertools.count()


def plugin_binary():
    path = os.environ.get("VNETCTL_CNI") or str(REPO / "build" / "bin" / "vnetctl-cni")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"no vnetctl-cni binary at {path} (build it, or set VNETCTL_CNI)")
    return path


def require_peers():
    """Fails (never skips) without what the tier needs, naming it."""
    if os.geteuid() != 0:
        raise AssertionError("the CNI tier needs root (network namespaces, taps)")
    missing = [name for name in PEERS if not os.access(CNI_PLUGINS_DIR / name, os.X_OK)]
    if missing:
        raise AssertionError(f"{', '.join(str(CNI_PLUGINS_DIR / m) for m in missing)} missing: "
                             "install Debian's containernetworking-plugins (scripts/install-deps)")


def run(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


class PluginError(AssertionError):
    """A plugin answered with the spec's error (code, msg, details)."""

    def __init__(self, plugin, command, rc, error, stderr):
        self.rc, self.error, self.stderr = rc, error, stderr
        self.code = error.get("code") if isinstance(error, dict) else None
        super().__init__(f"{plugin} {command} failed (exit {rc}): {json.dumps(error)}\nstderr: {stderr[-2000:]}")


def exec_plugin(path, command, config, container_id="", netns="", ifname="", cni_args="", cni_path="",
                extra_env=None, stdin_text=None, timeout=60):
    """One plugin execution as libcni's invoke.ExecPlugin*: returns
    (exit status, stdout parsed as JSON or None, stderr)."""
    env = dict(os.environ)
    env.update({"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
                "CNI_IFNAME": ifname, "CNI_ARGS": cni_args, "CNI_PATH": cni_path})
    env.update(extra_env or {})
    data = stdin_text if stdin_text is not None else json.dumps(config)
    proc = subprocess.run([path], input=data, capture_output=True, text=True, env=env, timeout=timeout)
    out = proc.stdout.strip()
    try:
        parsed = json.loads(out) if out else None
    except ValueError:
        raise AssertionError(f"{path} {command} printed something that is not JSON: {out[:500]!r}\n"
                             f"stderr: {proc.stderr[-2000:]}") from None
    return proc.returncode, parsed, proc.stderr


class Attachment:
    """One (container id, netns, ifname) with its capability and CNI_ARGS."""

    def __init__(self, container_id, netns, ifname="eth0", capability_args=None, cni_args=""):
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.capability_args = capability_args or {}
        self.cni_args = cni_args


class Runtime:
    """A network configuration list run as libcni runs it."""

    def __init__(self, test, conflist):
        self.test = test
        self.conflist = conflist
        self.cache = {}  # (container id, ifname) -> final ADD result, as libcni's cacheAdd

    @property
    def name(self):
        return self.conflist["name"]

    @property
    def version(self):
        return self.conflist["cniVersion"]

    def request_config(self, plugin, prev_result, attachment):
        """libcni's buildOneConfig(): the plugin's configuration with name and
        cniVersion, prevResult when there is one, and runtimeConfig: the
        capabilities the plugin declares that the runtime has arguments for;
        `capabilities` itself is passed on as it is."""
        config = copy.deepcopy(plugin)
        config["name"] = self.name
        config["cniVersion"] = self.version
        if prev_result is not None:
            config["prevResult"] = prev_result
        if attachment is not None:
            runtime_config = {cap: attachment.capability_args[cap]
                              for cap, on in plugin.get("capabilities", {}).items()
                              if on and cap in attachment.capability_args}
            if runtime_config:
                config["runtimeConfig"] = runtime_config
        return config

    def _exec(self, plugin, command, config, attachment, extra_env=None):
        path = self.test.plugin_path(plugin["type"])
        if attachment is None:
            return exec_plugin(path, command, config, cni_path=self.test.cni_path, extra_env=extra_env)
        return exec_plugin(path, command, config, attachment.container_id, attachment.netns, attachment.ifname,
                           attachment.cni_args, self.test.cni_path, extra_env)

    def _must(self, plugin, command, outcome):
        rc, out, err = outcome
        if rc != 0:
            raise PluginError(plugin["type"], command, rc, out, err)
        return out

    def add(self, attachment):
        result = None
        for plugin in self.conflist["plugins"]:
            config = self.request_config(plugin, result, attachment)
            result = self._must(plugin, "ADD", self._exec(plugin, "ADD", config, attachment))
            self.test.assertIsNotNone(result, f"{plugin['type']} ADD printed no result")
        self.cache[(attachment.container_id, attachment.ifname)] = result
        return result

    def check(self, attachment):
        if self.conflist.get("disableCheck"):
            return
        cached = self.cache[(attachment.container_id, attachment.ifname)]
        for plugin in self.conflist["plugins"]:
            config = self.request_config(plugin, cached, attachment)
            out = self._must(plugin, "CHECK", self._exec(plugin, "CHECK", config, attachment))
            self.test.assertIsNone(out, f"{plugin['type']} CHECK printed {out}")

    def delete(self, attachment, forget=True):
        """DEL in reverse order with the cached result as prevResult (none
        when the cache lost it, as libcni after a failed read)."""
        cached = self.cache.get((attachment.container_id, attachment.ifname))
        for plugin in reversed(self.conflist["plugins"]):
            config = self.request_config(plugin, cached, attachment)
            out = self._must(plugin, "DEL", self._exec(plugin, "DEL", config, attachment))
            self.test.assertIsNone(out, f"{plugin['type']} DEL printed {out}")
        if forget:
            self.cache.pop((attachment.container_id, attachment.ifname), None)

    def gc(self, valid):
        """GCNetworkList()'s GC step: every plugin, errors collected."""
        refs = [{"containerID": a.container_id, "ifname": a.ifname} for a in valid]
        errors = []
        for plugin in self.conflist["plugins"]:
            config = copy.deepcopy(plugin)
            config.update({"name": self.name, "cniVersion": self.version,
                           "cni.dev/valid-attachments": refs, "cni.dev/attachments": refs})
            rc, out, err = self._exec(plugin, "GC", config, None)
            if rc != 0:
                errors.append(PluginError(plugin["type"], "GC", rc, out, err))
        return errors

    def status(self):
        for plugin in self.conflist["plugins"]:
            config = copy.deepcopy(plugin)
            config.update({"name": self.name, "cniVersion": self.version})
            self._must(plugin, "STATUS", self._exec(plugin, "STATUS", config, None))


class CniTestCase(unittest.TestCase):
    """A vnetd, a CNI_PATH and a host-local data dir per test."""

    vnetd_args = ()  # more vnetd options for the class's tests

    @classmethod
    def setUpClass(cls):
        require_peers()
        remove_stale_namespaces()

    def setUp(self):
        self.work = Path(tempfile.mkdtemp(prefix="vnet-cni-"))
        self.addCleanup(shutil.rmtree, self.work, True)
        watch_sanitizer_reports(self)
        self.bin = self.work / "bin"
        self.bin.mkdir()
        os.symlink(plugin_binary(), self.bin / "vnetctl-cni")
        for peer in PEERS:
            os.symlink(CNI_PLUGINS_DIR / peer, self.bin / peer)
        self.cni_path = str(self.bin)
        self.ipam_dir = self.work / "ipam"
        self.data_dir = self.work / "cni-data"  # the plugin's records (dataDir)
        # tuning keeps what it changed (to restore it on DEL) here.
        self.vnetd = Vnetd(self.work / "vnetd", extra_args=self.vnetd_args)
        os.mkdir(self.vnetd.workdir)
        watch_stderr_log(self, self.vnetd.log_path)
        self.addCleanup(self.vnetd.kill)
        self.addCleanup(self.vnetd.stop)
        self.vnetd.start()
        self.socket = self.vnetd.socket_path

    # -- namespaces
    def netns(self):
        """A fresh network namespace; its /var/run/netns path. Removed at the end."""
        name = f"vcni-{os.getpid()}-{next(_ns_counter)}"
        run("ip", "netns", "add", name)
        self.addCleanup(run, "ip", "netns", "del", name, check=False)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return f"/var/run/netns/{name}"

    @staticmethod
    def ns_name(path):
        return os.path.basename(path)

    def ns_run(self, path, *args, check=True):
        return run("ip", "netns", "exec", self.ns_name(path), *args, check=check)

    def link(self, path, ifname):
        """`ip -j -d addr show` of ifname in the namespace, or None when absent."""
        proc = run("ip", "-n", self.ns_name(path), "-j", "-d", "addr", "show", "dev", ifname, check=False)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]

    def assert_gone(self, path, ifname, msg=""):
        """ifname leaves the namespace: vnetd answers netdev_del at once and
        removes the device in the background (docs/tap-and-bridge.md)."""
        self.wait_for(lambda: self.link(path, ifname) is None, f"{ifname} to leave {path} {msg}".strip())

    def addresses(self, path, ifname):
        link = self.link(path, ifname)
        return sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a.get("scope") != "link")

    def routes(self, path, family="-4"):
        return json.loads(run("ip", "-n", self.ns_name(path), family, "-j", "route", "show").stdout)

    # -- plugin configurations
    def plugin_conf(self, **keys):
        conf = {"type": "vnetctl-cni", "socket": self.socket, "dataDir": str(self.data_dir)}
        conf.update(keys)
        return conf

    def host_local(self, subnet="10.88.0.0/24", **keys):
        ipam = {"type": "host-local", "subnet": subnet, "dataDir": str(self.ipam_dir)}
        ipam.update(keys)
        return ipam

    def runtime(self, *plugins, name="vnettest", version="1.1.0", **list_keys):
        conflist = {"cniVersion": version, "name": name, "plugins": list(plugins)}
        conflist.update(list_keys)
        return Runtime(self, conflist)

    def plugin_path(self, plugin_type):
        return str(self.bin / plugin_type)

    def cni(self, command, config, attachment=None, **kw):
        """The plugin alone, as one libcni execution: (rc, output, stderr)."""
        if attachment is None:
            return exec_plugin(self.plugin_path("vnetctl-cni"), command, config, cni_path=self.cni_path, **kw)
        return exec_plugin(self.plugin_path("vnetctl-cni"), command, config, attachment.container_id,
                           attachment.netns, attachment.ifname, attachment.cni_args, self.cni_path, **kw)

    def assert_cni_error(self, outcome, code, msg_part=None):
        rc, out, err = outcome
        self.assertNotEqual(rc, 0, f"expected error {code}, got success: {out}")
        self.assertIsInstance(out, dict, f"no error JSON on stdout; stderr: {err}")
        self.assertEqual(out.get("code"), code, f"error: {out}\nstderr: {err[-1500:]}")
        self.assertIn("msg", out)
        self.assertIn("cniVersion", out)
        self.assertTrue(set(out) <= {"cniVersion", "code", "msg", "details"}, out)
        if msg_part:
            self.assertIn(msg_part, out["msg"], out)
        return out

    # -- what vnetd and host-local hold
    def qmp(self):
        client = QmpClient(self.socket)
        self.addCleanup(client.close)
        return client

    def cni_netdevs(self):
        client = QmpClient(self.socket)
        try:
            return {n["id"]: n for n in client.cmd("query-netdevs") if n["id"].startswith("cni-")}
        finally:
            client.close()

    def allocations(self, network="vnettest"):
        """host-local's reservations: one file per address (besides its lock
        and last_reserved_ip.N files)."""
        directory = self.ipam_dir / network
        if not directory.exists():
            return {}
        return {p.name: p.read_text() for p in directory.iterdir()
                if p.name != "lock" and not p.name.startswith("last_reserved_ip")}

    def records(self, network="vnettest"):
        """The plugin's own records of a network: {netdev id: record}."""
        directory = self.data_dir / network
        if not directory.exists():
            return {}
        return {p.name[:-len(".json")]: json.loads(p.read_text()) for p in directory.iterdir()
                if p.name.endswith(".json") and not p.name.startswith(".")}

    def wait_for(self, predicate, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.02)

    def restart_vnetd(self, sig=signal.SIGKILL):
        """vnetd killed (SIGKILL: nothing flushed on the way out) and started
        again on the same socket and state dir."""
        if sig == signal.SIGKILL:
            self.vnetd.kill()
        else:
            self.assertEqual(self.vnetd.stop(sig), 0)
        self.vnetd.start()


def fnv1a_128(data):
    """FNV-1a, 128 bits (offset basis and prime of the FNV specification)."""
    value = 0x6c62272e07bb014262b821756295c58d
    prime = 0x0000000001000000000000000000013B
    for byte in data:
        value = ((value ^ byte) * prime) % (1 << 128)
    return value


def netdev_id_for(network, container_id, ifname):
    """The plugin's netdev id of an attachment (ctl/cni/vnetd_attachments.cpp):
    "cni-" and the 128-bit FNV-1a hash of the three, NUL-separated, in hex."""
    return f"cni-{fnv1a_128(chr(0).join((network, container_id, ifname)).encode()):032x}"


# An IPAM plugin that speaks 1.1.0, for the delegation of STATUS and GC:
# VERSION lists 1.1.0; STATUS fails with 51 while the file STATUS_FAILS is in
# its directory; GC and every other command are logged to calls.log; ADD
# answers one address, DEL nothing.
FAKE_IPAM = r"""#!/usr/bin/env python3
import json, os, sys
here = os.path.dirname(os.path.realpath(__file__))
command = os.environ.get("CNI_COMMAND", "")
data = sys.stdin.read()
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(json.dumps({"command": command, "container": os.environ.get("CNI_CONTAINERID", ""),
                          "ifname": os.environ.get("CNI_IFNAME", ""), "stdin": data}) + "\n")
if command == "VERSION":
    print(json.dumps({"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}))
elif command == "STATUS" and os.path.exists(os.path.join(here, "STATUS_FAILS")):
    print(json.dumps({"cniVersion": "1.1.0", "code": 51, "msg": "fake-ipam: no addresses left"}))
    sys.exit(1)
elif command == "ADD":
    print(json.dumps({"cniVersion": json.loads(data)["cniVersion"], "ips": [{"address": "192.0.2.10/24"}]}))
"""


def remove_stale_namespaces():
    """Namespaces of runs killed before their cleanup (vcni-PID-N, PID gone)."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == "vcni" and parts[1].isdigit() and not os.path.exists(f"/proc/{parts[1]}"):
            run("ip", "netns", "del", name, check=False)


def main():
    unittest.main(module="__main__")
