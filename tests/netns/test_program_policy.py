#!/usr/bin/env python3
"""What a client may make vnetd run or serve as root (issue 16, part 5;
docs/security.md): scripts and helpers only from the directories [programs]
allows, never through a shell, in a clean environment; libvdeplug plugins,
slirp's guestfwd commands and tftp=/smb= directories only where allowed. Each
refusal names its reason and changes nothing."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from netns_harness import NamespaceTestCase, vnetd_binary  # noqa: E402


def vnetd_has_asan():
    """libvdeplug opens its plugins with RTLD_DEEPBIND, which ASan refuses
    (tests/unit's vde tests skip there too): an allowed plugin cannot be
    opened by an ASan build."""
    linked = subprocess.run(["ldd", vnetd_binary()], capture_output=True, text=True).stdout
    return "libasan" in linked


class PolicyTestCase(NamespaceTestCase):

    def add(self, **arguments):
        return self.client.execute("netdev_add", arguments)

    def links(self):
        return self.sh("ip -o link show | cut -d: -f2").split()

    def write_program(self, path, body, mode=0o755):
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, mode)
        return path

    def read(self, path):
        with open(path) as f:
            return f.read()

    def assert_refused(self, reply, *fragments):
        desc = reply.get("error", {}).get("desc", "")
        self.assertEqual(reply.get("error", {}).get("class"), "GenericError", reply)
        self.assertIn("refused", desc, reply)
        for fragment in fragments:
            self.assertIn(fragment, desc, reply)
        self.assertEqual(self.client.cmd("query-netdevs"), [], "a refused add left a netdev")


class DefaultPolicy(PolicyTestCase):
    """No [programs] table: nothing a client names is run or served."""

    def setUp(self):
        super().setUp()
        self.start_daemon()
        self.marker = os.path.join(self.work, "ran")

    def test_scripts_outside_the_allowed_directories_are_refused(self):
        script = self.write_program(os.path.join(self.work, "ifup"), f"touch {self.marker}\n")
        for option in ("script", "downscript"):
            reply = self.add(type="tap", id="t0", ifname="pp0", **{option: script})
            self.assert_refused(reply, f"{option}={script}", "script-dirs", "/etc/vnetctl/scripts")
        self.assert_refused(self.add(type="tap", id="t0", ifname="pp0", script="ifup"), "not an absolute path")
        self.assert_refused(self.add(type="tap", id="t0", ifname="pp0", script="/nonexistent/ifup"),
                            "does not exist")
        self.assertFalse(os.path.exists(self.marker), "a refused script ran")
        self.assertNotIn("pp0", self.links(), "a refused add left its tap")

    def test_helpers_outside_the_allowed_directories_are_refused(self):
        helper = self.write_program(os.path.join(self.work, "helper"), f"touch {self.marker}\n")
        self.assert_refused(self.add(type="tap", id="t0", helper=helper), "helper-dirs", "/usr/lib/qemu")
        self.assert_refused(self.add(type="bridge", id="b0", helper=f"{helper} --x", br="br0"), "helper-dirs")
        self.assertFalse(os.path.exists(self.marker), "a refused helper ran")

    def test_vde_plugins_other_than_vde_and_null_are_refused(self):
        reply = self.add(type="vde", id="v0", sock=f"cmd://touch {self.marker}")
        self.assert_refused(reply, "plugin 'cmd'", "vde-plugins")
        self.assert_refused(self.add(type="vde", id="v0", sock="tap://pp0"), "plugin 'tap'")
        self.assertFalse(os.path.exists(self.marker), "a refused vde plugin ran its command")
        if not vnetd_has_asan():
            self.assertEqual(self.add(type="vde", id="v1", sock="null://"), {"return": {}})

    def test_slirp_commands_and_directories_are_refused(self):
        self.assert_refused(self.add(type="user", id="u0", guestfwd=[{"str": f"tcp:10.0.2.100:1-cmd:touch {self.marker}"}]),
                            "user-guestfwd-cmd")
        self.assert_refused(self.add(type="user", id="u0", tftp="/"), "tftp=/", "user-dirs")
        self.assert_refused(self.add(type="user", id="u0", smb="/"), "smb=/", "user-dirs")
        self.assertEqual(self.add(type="user", id="u1"), {"return": {}})


class ConfiguredPolicy(PolicyTestCase):
    """A [programs] table that allows a scripts, a helpers and a tftp dir."""

    def setUp(self):
        super().setUp()
        self.scripts = os.path.join(self.work, "scripts")
        self.helpers = os.path.join(self.work, "helpers")
        self.tftp = os.path.join(self.work, "tftp")
        for d in (self.scripts, self.helpers, self.tftp):
            os.mkdir(d, 0o755)
        config = os.path.join(self.work, "vnetd.toml")
        with open(config, "w") as f:
            f.write(f'[programs]\nscript-dirs = ["{self.scripts}"]\nhelper-dirs = ["{self.helpers}"]\n'
                    f'user-dirs = ["{self.tftp}"]\nscript-timeout-ms = 5000\n')
        # What vnetd's environment holds must not reach a script.
        self.start_daemon(env={"VNETD_TEST_SECRET": "s3cret", "LD_LIBRARY_PATH": "/nonexistent-lib"},
                          extra_args=["--config", config])
        self.log = os.path.join(self.work, "log")

    def test_an_allowed_script_runs_in_a_clean_environment(self):
        script = self.write_program(os.path.join(self.scripts, "ifup"), f"env > {self.log}\n")
        self.assertEqual(self.add(type="tap", id="t0", ifname="pp0", script=script), {"return": {}})
        env = dict(line.split("=", 1) for line in self.read(self.log).splitlines() if "=" in line)
        self.assertEqual(env.get("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        self.assertNotIn("VNETD_TEST_SECRET", env)
        self.assertNotIn("LD_LIBRARY_PATH", env)

    def test_a_script_others_could_change_is_refused(self):
        writable = self.write_program(os.path.join(self.scripts, "shared"), "exit 0\n", mode=0o775)
        self.assert_refused(self.add(type="tap", id="t0", ifname="pp0", script=writable),
                            "writable by group or others")
        owned = self.write_program(os.path.join(self.scripts, "users"), "exit 0\n")
        os.chown(owned, 1000, 1000)
        self.assert_refused(self.add(type="tap", id="t0", ifname="pp0", script=owned), "not owned by root")
        # A link in the directory to a program outside it is the program outside.
        outside = self.write_program(os.path.join(self.work, "outside"), "exit 0\n")
        os.symlink(outside, os.path.join(self.scripts, "link"))
        self.assert_refused(self.add(type="tap", id="t0", ifname="pp0", script=os.path.join(self.scripts, "link")),
                            "script-dirs")
        self.assert_refused(self.add(type="tap", id="t0", ifname="pp0", script=os.path.join(self.scripts, "..", "outside")),
                            "script-dirs")
        self.assertNotIn("pp0", self.links())

    def test_a_helper_with_arguments_runs_without_a_shell(self):
        """QEMU runs such a helper under /bin/sh -c with br= pasted in; a br=
        with shell syntax must reach the helper as one argument, unrun."""
        helper = self.write_program(os.path.join(self.helpers, "helper"),
                                    f'for a in "$@"; do echo "$a" >> {self.log}; done\nexit 1\n')
        marker = os.path.join(self.work, "injected")
        reply = self.add(type="bridge", id="b0", helper=f"{helper} --one --two", br=f"br0;touch {marker}")
        self.assertIn("error", reply)
        self.assertFalse(os.path.exists(marker), "br= was run by a shell")
        args = self.read(self.log).splitlines()
        self.assertEqual(args[:2], ["--one", "--two"])
        self.assertTrue(args[2].startswith("--fd="), args)
        self.assertEqual(args[3], f"--br=br0;touch {marker}")

    def test_tftp_only_in_allowed_directories(self):
        self.assertEqual(self.add(type="user", id="u0", tftp=self.tftp), {"return": {}})
        self.client.cmd("netdev_del", id="u0")
        os.mkdir(os.path.join(self.tftp, "boot"))
        self.assertEqual(self.add(type="user", id="u1", tftp=os.path.join(self.tftp, "boot")), {"return": {}})
        self.client.cmd("netdev_del", id="u1")
        self.assert_refused(self.add(type="user", id="u2", tftp=self.work), "user-dirs")


if __name__ == "__main__":
    unittest.main(verbosity=2)
