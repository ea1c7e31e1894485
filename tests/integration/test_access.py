#!/usr/bin/env python3
"""Who may use vnetd's socket (docs/access.md): peers are told apart by
SO_PEERCRED, so each non-root client here is a child process that drops to
its uid/gid before it connects. The socket lets them in by group
(--socket-group), never by a world-writable mode. Every rule is seen refusing
and allowing; a refused request changes nothing (query-netdevs as root
before and after)."""
import array
import fcntl
import os
import socket
import stat
import struct
import subprocess

from vnetd_harness import QmpClient, Vnetd, VnetdTestCase, as_user, main, vnetd_binary

VMM_UID, OTHER_UID, GROUP_UID, STRANGER_UID = 1000, 1001, 1002, 1003
CLIENT_GID = 1000        # the group the socket is given: every test client is in it
KVM_GID = 4242           # a gid rule's group (primary group of GROUP_UID's client)
TUNGETIFF = 0x800454D2

ACCESS = f"""
[[allow]]
uid = {VMM_UID}
commands = ["query-*"]

[[allow]]
uid = {VMM_UID}
commands = ["netdev-get-fds", "netdev_del", "set_link"]
owned = true

[[allow]]
gid = {KVM_GID}
commands = ["netdev_add", "query-netdevs"]
"""


def session(socket_path, requests, negotiate=True):
    """A work() for as_user: connects, reads the greeting, optionally
    negotiates, sends each (command, arguments) and returns the greeting, the
    replies and, per reply, the names of the taps behind the fds that came
    with it (TUNGETIFF)."""
    def work():
        client = QmpClient(socket_path, negotiate=False)
        out = {"greeting": client.greeting, "replies": [], "fd_taps": []}
        try:
            if negotiate:
                out["negotiation"] = client.execute("qmp_capabilities")
            for command, arguments in requests:
                out["replies"].append(client.execute(command, arguments))
                taps = []
                for fd in client.take_received_fds():
                    ifr = array.array("B", bytes(40))
                    try:
                        fcntl.ioctl(fd, TUNGETIFF, ifr, True)
                        taps.append(bytes(ifr[:16]).split(b"\0")[0].decode())
                    except OSError:
                        taps.append(None)
                    os.close(fd)
                out["fd_taps"].append(taps)
        finally:
            client.close()
        return out
    return work


class AccessTestBase(VnetdTestCase):
    access_text = None   # the --access file, if any
    config_text = None   # the --config file, if any

    def daemon_args(self):
        # The clients must reach the socket: the directory is traversable, the
        # socket itself is 0660 with the clients' group.
        os.chmod(self.workdir, 0o711)
        args = ["--socket-group", str(CLIENT_GID)]
        if self.access_text is not None:
            path = os.path.join(self.workdir, "access.toml")
            with open(path, "w") as f:
                f.write(self.access_text)
            args += ["--access", path]
        if self.config_text is not None:
            path = os.path.join(self.workdir, "vnetd.toml")
            with open(path, "w") as f:
                f.write(self.config_text)
            args += ["--config", path]
        return args

    def setUp(self):
        super().setUp()
        self.root = self.connect()

    def run_as(self, uid, requests, gid=CLIENT_GID, negotiate=True, groups=(CLIENT_GID,)):
        return as_user(uid, gid, session(self.daemon.socket_path, requests, negotiate), groups)

    def netdevs(self):
        return self.root.cmd("query-netdevs")

    def assert_denied(self, reply, desc):
        self.assert_error(reply, "GenericError", desc)


class WithoutAccessFile(AccessTestBase):

    def test_a_non_root_peer_is_refused_whatever_the_socket_mode(self):
        mode = os.stat(self.daemon.socket_path)
        self.assertEqual(stat.S_IMODE(mode.st_mode), 0o660)
        self.assertEqual(mode.st_gid, CLIENT_GID)
        out = self.run_as(VMM_UID, [("query-version", None), ("netdev_add", {"type": "hubport", "id": "h0",
                                                                             "hubid": 0})])
        # The greeting comes, so the client sees why in QMP terms.
        self.assertIn("QMP", out["greeting"])
        why = "vnetd has no access rules: only root may use this socket"
        self.assert_denied(out["negotiation"], f"Permission denied: uid {VMM_UID} may not run qmp_capabilities ({why})")
        self.assert_denied(out["replies"][0], f"Permission denied: uid {VMM_UID} may not run query-version ({why})")
        self.assert_denied(out["replies"][1], f"Permission denied: uid {VMM_UID} may not run netdev_add ({why})")
        self.assertEqual(self.netdevs(), [])

    def test_root_may_do_everything(self):
        self.root.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        self.assertEqual([n["id"] for n in self.netdevs()], ["h0"])
        self.root.cmd("netdev_del", id="h0")


class WithAccessFile(AccessTestBase):
    access_text = ACCESS

    def test_allowed_commands_work_and_others_are_refused_changing_nothing(self):
        self.root.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        before = self.netdevs()
        out = self.run_as(VMM_UID, [
            ("query-netdevs", None),        # query-* prefix
            ("query-version", None),        # query-* prefix
            ("netdev_add", {"type": "hubport", "id": "h1", "hubid": 0}),
            ("netdev_del", {"id": "h0"}),   # owned rule: h0 has no owner
            ("getfd", {"fdname": "x"}),
        ])
        self.assert_ok(out["negotiation"], {})
        replies = out["replies"]
        self.assertEqual([n["id"] for n in replies[0]["return"]], ["h0"])
        self.assertIn("qemu", replies[1]["return"])
        self.assert_denied(replies[2], f"Permission denied: uid {VMM_UID} may not run netdev_add (no rule allows it)")
        self.assert_denied(replies[3], f"Permission denied: uid {VMM_UID} may not run netdev_del (its rule is for owned "
                                       f"netdevs: 'h0' is not a netdev whose tap uid {VMM_UID} owns)")
        self.assert_denied(replies[4], f"Permission denied: uid {VMM_UID} may not run getfd (no rule allows it)")
        self.assertEqual(self.netdevs(), before)

    def test_owned_netdev_get_fds_gives_fds_of_an_owned_tap_only(self):
        self.root.cmd("netdev_add", type="tap", id="mine", ifname="vmine0", queues=2, owner=VMM_UID)
        self.root.cmd("netdev_add", type="tap", id="theirs", ifname="vtheirs0", owner=OTHER_UID)
        self.root.cmd("netdev_add", type="tap", id="nobody", ifname="vnobody0")
        before = self.netdevs()
        details = {n["id"]: n.get("details", {}) for n in before}
        self.assertEqual(details["mine"]["owner"], VMM_UID)
        self.assertEqual(details["nobody"]["owner"], 0, "a tap made without owner= is root's")
        out = self.run_as(VMM_UID, [
            ("netdev-get-fds", {"id": "mine"}),
            ("netdev-get-fds", {"id": "theirs"}),
            ("netdev-get-fds", {"id": "nobody"}),
            ("netdev-get-fds", {"id": "absent"}),
            ("set_link", {"name": "theirs", "up": False}),
            ("netdev_del", {"id": "theirs"}),
        ])
        replies, fd_taps = out["replies"], out["fd_taps"]
        self.assert_ok(replies[0], {"fds": [{"role": "tap", "queue": 0}, {"role": "tap", "queue": 1}]})
        self.assertEqual(fd_taps[0], ["vmine0", "vmine0"], "the fds that came are not the owned tap's queues")
        for reply, name in zip(replies[1:4], ["theirs", "nobody", "absent"]):
            self.assert_denied(reply, f"Permission denied: uid {VMM_UID} may not run netdev-get-fds (its rule is for "
                                      f"owned netdevs: '{name}' is not a netdev whose tap uid {VMM_UID} owns)")
        self.assertEqual(fd_taps[1:4], [[], [], []], "fds came with a refusal")
        self.assert_denied(replies[4], f"Permission denied: uid {VMM_UID} may not run set_link (its rule is for owned "
                                       f"netdevs: 'theirs' is not a netdev whose tap uid {VMM_UID} owns)")
        self.assert_denied(replies[5], f"Permission denied: uid {VMM_UID} may not run netdev_del (its rule is for "
                                       f"owned netdevs: 'theirs' is not a netdev whose tap uid {VMM_UID} owns)")
        self.assertEqual(self.netdevs(), before, "a refused request changed something")

        # And the owned ones may be changed by their owner.
        out = self.run_as(VMM_UID, [("set_link", {"name": "mine", "up": False}), ("netdev_del", {"id": "mine"})])
        self.assert_ok(out["replies"][0], {})
        self.assert_ok(out["replies"][1], {})
        self.assertEqual([n["id"] for n in self.netdevs()], ["theirs", "nobody"])

    def test_a_nic_is_owned_through_its_tap(self):
        self.root.cmd("netdev_add", type="tap", id="mine", ifname="vmine1", owner=VMM_UID)
        self.root.cmd("netdev_add", type="tap", id="theirs", ifname="vtheirs1", owner=OTHER_UID)
        self.root.cmd("netdev_add", type="nic", id="nic-mine", netdev="mine")
        self.root.cmd("netdev_add", type="nic", id="nic-theirs", netdev="theirs")
        out = self.run_as(VMM_UID, [("set_link", {"name": "nic-mine", "up": False}),
                                    ("set_link", {"name": "nic-theirs", "up": False})])
        self.assert_ok(out["replies"][0], {})
        self.assert_denied(out["replies"][1], f"Permission denied: uid {VMM_UID} may not run set_link (its rule is "
                                              f"for owned netdevs: 'nic-theirs' is not a netdev whose tap uid "
                                              f"{VMM_UID} owns)")
        links = {n["id"]: n["link-up"] for n in self.netdevs()}
        self.assertEqual(links, {"mine": True, "theirs": True, "nic-mine": False, "nic-theirs": True})

    def test_a_gid_rule_is_for_the_peers_primary_group(self):
        out = self.run_as(GROUP_UID, [("netdev_add", {"type": "hubport", "id": "h1", "hubid": 1}),
                                      ("query-netdevs", None),
                                      ("netdev_del", {"id": "h1"})], gid=KVM_GID)
        self.assert_ok(out["replies"][0], {})
        self.assertEqual([n["id"] for n in out["replies"][1]["return"]], ["h1"])
        self.assert_denied(out["replies"][2], f"Permission denied: uid {GROUP_UID} may not run netdev_del (no rule "
                                              f"allows it)")
        # The rule is for the primary group only: the group among the
        # supplementary ones does not count (SO_PEERCRED carries one gid).
        out = self.run_as(GROUP_UID, [("netdev_add", {"type": "hubport", "id": "h2", "hubid": 1})],
                          gid=CLIENT_GID, groups=(CLIENT_GID, KVM_GID))
        self.assert_denied(out["negotiation"], f"Permission denied: uid {GROUP_UID} may not run qmp_capabilities (no "
                                               f"access rule is for uid {GROUP_UID} or gid {CLIENT_GID})")
        self.assertEqual([n["id"] for n in self.netdevs()], ["h1"])

    def test_a_peer_no_rule_is_for_is_refused_before_negotiation(self):
        out = self.run_as(STRANGER_UID, [("query-netdevs", None)], negotiate=False)
        self.assertIn("QMP", out["greeting"])
        self.assert_denied(out["replies"][0], f"Permission denied: uid {STRANGER_UID} may not run query-netdevs (no "
                                              f"access rule is for uid {STRANGER_UID} or gid {CLIENT_GID})")

    def test_root_is_allowed_everything_with_rules_too(self):
        self.root.cmd("netdev_add", type="tap", id="t0", ifname="vroot0", owner=OTHER_UID)
        self.assertEqual(len(self.root.cmd("netdev-get-fds", id="t0")["fds"]), 1)
        for fd in self.root.take_received_fds():
            os.close(fd)
        self.root.cmd("netdev_del", id="t0")


class RulesInConfigFile(AccessTestBase):
    config_text = f'[[allow]]\nuid = {VMM_UID}\ncommands = ["query-netdevs"]\n'

    def test_config_allow_tables_are_rules_like_access_ones(self):
        out = self.run_as(VMM_UID, [("query-netdevs", None), ("query-version", None)])
        self.assert_ok(out["replies"][0], [])
        self.assert_denied(out["replies"][1], f"Permission denied: uid {VMM_UID} may not run query-version (no rule "
                                              f"allows it)")


class StartupChecks(VnetdTestCase):
    """Files and options vnetd refuses to start with (status 2, the reason on stderr)."""

    def refused_start(self, args):
        sock = os.path.join(self.workdir, "refused.sock")
        result = subprocess.run([vnetd_binary(), "--socket", sock, "--state-dir", os.path.join(self.workdir, "st2"),
                                 "--bridge-acl", os.path.join(self.workdir, "none.conf")] + args,
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertFalse(os.path.exists(sock), "a refused start left a socket")
        return result.stderr

    def test_a_bad_access_file_stops_vnetd_naming_file_and_line(self):
        path = os.path.join(self.workdir, "bad.toml")
        with open(path, "w") as f:
            f.write('[[allow]]\nuid = 1000\ncommands = ["netdev-add"]\n')
        self.assertIn(f"vnetd: {path}:3: key 'allow.commands': unknown command 'netdev-add'",
                      self.refused_start(["--access", path]))
        self.assertIn("access.toml", self.refused_start(["--access", os.path.join(self.workdir, "access.toml")]))

    def test_a_bad_bridge_acl_is_a_bad_configuration(self):
        with open(os.path.join(self.workdir, "none.conf"), "w") as f:
            f.write("allow br0\npermit br1\n")
        self.assertIn("none.conf:2: unknown command 'permit' in acl file", self.refused_start([]))
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "st2")), "a refused start made the state directory")

    def test_a_start_that_fails_after_mounting_its_bpffs_unmounts_it(self):
        blocker = os.path.join(self.workdir, "not-a-dir")
        open(blocker, "w").close()
        state_dir = os.path.join(self.workdir, "st3")
        self.addCleanup(lambda: os.path.ismount(os.path.join(state_dir, "bpf")) and
                        subprocess.run(["umount", os.path.join(state_dir, "bpf")], check=False))
        result = subprocess.run([vnetd_binary(), "--socket", os.path.join(blocker, "qmp.sock"), "--state-dir", state_dir,
                                 "--bridge-acl", os.path.join(self.workdir, "none.conf")],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("not-a-dir", result.stderr)
        self.assertFalse(os.path.ismount(os.path.join(state_dir, "bpf")), "a failed start left its bpffs mounted")

    def test_a_world_writable_socket_is_refused(self):
        for mode in ("0666", "0662", "0777"):
            self.assertIn(f"vnetd: --socket-mode {mode}: a world-writable socket (o+w) is refused",
                          self.refused_start(["--socket-mode", mode]))
        self.assertIn("--socket-mode 0o660: expected an octal mode", self.refused_start(["--socket-mode", "0o660"]))
        self.assertIn("--socket-mode 1660: a socket mode has permission bits only",
                      self.refused_start(["--socket-mode", "1660"]))
        self.assertIn("--socket-group no-such-group-here: no such group",
                      self.refused_start(["--socket-group", "no-such-group-here"]))


class SocketModeAndGroup(VnetdTestCase):
    """--socket-mode and --socket-group as the file shows them, and as a
    client that is only in the group finds them."""

    def daemon_args(self):
        os.chmod(self.workdir, 0o711)
        return ["--socket-mode", "0640", "--socket-group", str(CLIENT_GID), "--access",
                self.write("access.toml", f'[[allow]]\nuid = {VMM_UID}\ncommands = ["query-*"]\n')]

    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_mode_and_group_are_set_and_connect_needs_write(self):
        st = os.stat(self.daemon.socket_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(st.st_gid, CLIENT_GID)
        self.assertEqual(st.st_uid, 0)
        # Group members may read but not write: connect(2) is refused by the
        # kernel before vnetd sees anything.
        def connect():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                try:
                    sock.connect(self.daemon.socket_path)
                except PermissionError:
                    return "EACCES"
                return "connected"
        self.assertEqual(as_user(VMM_UID, CLIENT_GID, connect, groups=(CLIENT_GID,)), "EACCES")
        # Nothing was left under the staging name.
        self.assertEqual(sorted(n for n in os.listdir(self.workdir) if n.startswith("qmp.sock")), ["qmp.sock"])

    def test_the_default_group_is_vnetds_and_mode_0660(self):
        other = Vnetd(os.path.join(self.workdir, "second"))
        os.mkdir(other.workdir)
        self.addCleanup(other.kill)
        other.start()
        st = os.stat(other.socket_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, os.getegid())
        self.assertEqual(other.stop(), 0)


if __name__ == "__main__":
    main()
