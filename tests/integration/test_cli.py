#!/usr/bin/env python3
"""vnetctl against a running vnetd: the contract's commands, exit statuses,
-j output, and errors on stderr with the daemon's text."""
import json
import os
import select
import subprocess

from vnetd_harness import VnetdTestCase, main, vnetd_binary


def vnetctl_binary():
    return os.environ.get("VNETCTL") or os.path.join(os.path.dirname(vnetd_binary()), "vnetctl")


class CliTest(VnetdTestCase):
    def vnetctl(self, *args, ok=True):
        done = subprocess.run([vnetctl_binary(), "-s", self.daemon.socket_path, *args],
                              capture_output=True, text=True, timeout=10)
        if ok:
            self.assertEqual(done.returncode, 0, f"vnetctl {' '.join(args)}: {done.stderr}")
        else:
            self.assertNotEqual(done.returncode, 0, f"vnetctl {' '.join(args)} succeeded: {done.stdout}")
        return done

    def test_qmp_lists_every_seed_command(self):
        reply = json.loads(self.vnetctl("qmp", '{"execute":"query-commands"}').stdout)
        names = {c["name"] for c in reply["return"]}
        for command in ["set_link", "netdev_add", "netdev_del", "query-rx-filter", "announce-self"]:
            self.assertIn(command, names)

    def test_netdev_add_show_link_del(self):
        self.vnetctl("netdev", "add", "hubport,id=h0,hubid=3")
        self.vnetctl("netdev", "add", "hubport,id=h1,hubid=3,netdev=h0")
        shown = json.loads(self.vnetctl("-j", "netdev", "show", "h1").stdout)
        counters = {"frames-in": 0, "frames-out": 0, "drops": 0, "loop-drops": 0, "forwarding": "userspace",
                    "userspace-reason": "port 'h0' is joined to a netdev whose frames vnetd carries"}
        self.assertEqual(shown, [{"details": counters, "link-up": True, "hubid": 3,
                                  "peer": "h0", "type": "hubport", "id": "h1"}])
        self.vnetctl("link", "set", "h1", "down")
        self.assertIn("h1: hubport link down peer h0 hub 3", self.vnetctl("netdev", "show").stdout)
        # Text: configuration, then counters, each on a line and by name.
        self.vnetctl("netdev", "add", "socket,id=s0,udp=127.0.0.1:5000,localaddr=127.0.0.1:5001")
        lines = self.vnetctl("netdev", "show", "s0").stdout.splitlines()
        self.assertEqual(lines[1].split()[0::2], ["localaddr", "mode", "socket-type", "udp", "udp-gso"], lines)
        self.assertEqual(lines[2].split()[0::2], ["bytes-in", "bytes-out", "drops-no-peer", "drops-send-error",
                                                  "frames-in", "frames-out", "udp-gso-sends"], lines)
        self.vnetctl("netdev", "del", "s0")
        self.vnetctl("netdev", "del", "h1")
        self.assertEqual(json.loads(self.vnetctl("-j", "netdev", "show").stdout)[0]["id"], "h0")

    def test_errors_carry_the_daemons_text(self):
        done = self.vnetctl("netdev", "del", "nope", ok=False)
        self.assertEqual(done.stderr.strip(), "vnetctl: Device 'nope' not found")
        done = self.vnetctl("netdev", "show", "nope", ok=False)
        self.assertEqual(done.stderr.strip(), "vnetctl: Device 'nope' not found")
        done = self.vnetctl("netdev", "add", "hubport,id=x,hubid=1,bogus=2", ok=False)
        self.assertEqual(done.stderr.strip(), "vnetctl: Parameter 'bogus' is unexpected")
        done = self.vnetctl("netdev", "add", "tap,id=t,queues=many", ok=False)
        self.assertIn("queues=many", done.stderr)
        done = self.vnetctl("qmp", '{"execute":"nope"}', ok=False)
        self.assertEqual(json.loads(done.stdout)["error"]["class"], "CommandNotFound")

    def test_announce_and_rx_filter_show(self):
        self.vnetctl("announce", "rounds=1", "interfaces=n0,n1")
        self.assertEqual(json.loads(self.vnetctl("-j", "rx-filter", "show").stdout), [])
        done = self.vnetctl("rx-filter", "show", "nope", ok=False)
        self.assertEqual(done.stderr.strip(), "vnetctl: invalid net client name: nope")

    def test_events_streams_what_the_daemon_emits(self):
        events = subprocess.Popen([vnetctl_binary(), "-s", self.daemon.socket_path, "events"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            client = self.connect()
            # vnetctl events negotiates on its own time: add netdevs until
            # one of their events shows up on its output.
            line = ""
            for n in range(50):
                client.cmd("netdev_add", type="hubport", id=f"e{n}", hubid=0)
                if select.select([events.stdout], [], [], 0.1)[0]:
                    line = events.stdout.readline()
                    break
            event = json.loads(line)
            self.assertEqual(event["event"], "VNET_NETDEV_ADDED")
            self.assertEqual(event["data"]["type"], "hubport")
            self.assertRegex(event["data"]["id"], r"^e\d+$")
            self.assertEqual(set(event["timestamp"]), {"seconds", "microseconds"})
        finally:
            events.kill()
            events.wait()

    def test_vdpa_help_needs_no_kernel(self):
        # This host has no vdpa module: help must not ask the kernel anything.
        for words in (["vdpa", "help"], ["vdpa"], ["vdpa", "--help"]):
            done = subprocess.run([vnetctl_binary(), *words], capture_output=True, text=True, timeout=10)
            self.assertEqual(done.returncode, 0, f"vnetctl {' '.join(words)}: {done.stderr}")
            self.assertIn("vnetctl vdpa dev add name NAME mgmtdev MGMTDEV", done.stdout)
        done = subprocess.run([vnetctl_binary(), "vdpa", "nonsense"], capture_output=True, text=True, timeout=10)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("usage: vnetctl", done.stderr)
        self.assertNotIn("netlink", done.stderr)

    def test_unreachable_socket_is_a_clear_error(self):
        done = subprocess.run([vnetctl_binary(), "-s", "/nonexistent/qmp.sock", "netdev", "show"],
                              capture_output=True, text=True)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("is vnetd running?", done.stderr)

    def test_command_line_errors_are_status_2_and_say_what(self):
        for words, says in ((["-s"], "option -s needs a SOCKET path"),
                            (["netdev", "show", "-s"], None),  # an option after the OBJECT is the OBJECT's word
                            (["--sockett", "x", "netdev", "show"], "unknown option '--sockett'"),
                            (["udev", "extra"], "udev takes no arguments")):
            done = subprocess.run([vnetctl_binary(), *words], capture_output=True, text=True, timeout=10,
                                  env={**os.environ, "VNETCTL_SOCKET": self.daemon.socket_path})
            if says is None:
                self.assertNotEqual(done.returncode, 2, f"vnetctl {' '.join(words)}: {done.stderr}")
                continue
            self.assertEqual(done.returncode, 2, f"vnetctl {' '.join(words)}: {done.stderr}")
            self.assertIn(says, done.stderr)

    def test_udev_without_udevs_environment_is_refused_before_connecting(self):
        # No daemon at the socket: the missing environment is what must be reported.
        env = {k: v for k, v in os.environ.items() if k not in ("ACTION", "SUBSYSTEM", "DEVPATH", "INTERFACE")}
        done = subprocess.run([vnetctl_binary(), "-s", "/nonexistent/qmp.sock", "udev"], capture_output=True,
                              text=True, timeout=10, env=env)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertNotIn("is vnetd running?", done.stderr)
        self.assertIn("ACTION and SUBSYSTEM must be set", done.stderr)


if __name__ == "__main__":
    main()
