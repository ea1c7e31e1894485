#!/usr/bin/env python3
"""shell/vnetctl.bash: what bash offers at each point of a vnetctl command
line, driven as bash's programmable completion drives it (COMP_LINE,
COMP_POINT, COMP_WORDBREAKS), against a running vnetd for netdev ids."""
import os
import subprocess

from vnetd_harness import VnetdTestCase, main, vnetd_binary

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "shell", "vnetctl.bash")


def vnetctl_binary():
    return os.environ.get("VNETCTL") or os.path.join(os.path.dirname(vnetd_binary()), "vnetctl")


class Completion(VnetdTestCase):
    def offered(self, line):
        """COMPREPLY for the command line `line` (the cursor at its end)."""
        line = line.replace("vnetctl", vnetctl_binary(), 1).replace("SOCK", self.daemon.socket_path)
        program = (f'source "{SCRIPT}"; COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}; '
                   "_vnetctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
        done = subprocess.run(["bash", "-c", program, "bash", line], capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stderr, "", f"{line!r}: {done.stderr}")
        return [w for w in done.stdout.split("\n") if w]

    def test_objects_verbs_and_options(self):
        self.assertIn("netdev", self.offered("vnetctl "))
        self.assertEqual(self.offered("vnetctl rx"), ["rx-filter"])
        self.assertEqual(sorted(self.offered("vnetctl --j")), ["--json"])
        self.assertEqual(self.offered("vnetctl -s SOCK netdev "), ["add", "del", "show"])
        self.assertEqual(self.offered("vnetctl link set x "), ["up", "down"])
        self.assertEqual(self.offered("vnetctl vdpa dev d"), ["del", "driver"])

    def test_netdev_types_and_keys_come_from_the_schema(self):
        types = self.offered("vnetctl netdev add ")
        self.assertIn("tap,id=", types)
        self.assertIn("vhost-user,id=", types)
        self.assertEqual(len(types), 11, types)
        # bash replaces only what follows the last '=' or ':' of the word.
        self.assertEqual(self.offered("vnetctl netdev add tap,id=t0,que"), ["t0,queues="])
        self.assertEqual(self.offered("vnetctl netdev add socket,id=s0,l"), ["s0,listen=", "s0,localaddr="])
        self.assertEqual(self.offered("vnetctl netdev add hubport,"), ["hubport,id=", "hubport,hubid=",
                                                                     "hubport,netdev=",
                                                                     "hubport,kernel-forwarding="])

    def test_ids_come_from_the_running_daemon(self):
        client = self.connect()
        for netdev_id in ("hub-a", "hub-b", "other"):
            client.cmd("netdev_add", type="hubport", id=netdev_id, hubid=1)
        self.assertEqual(self.offered("vnetctl -s SOCK netdev del hub"), ["hub-a", "hub-b"])
        self.assertEqual(self.offered("vnetctl -s SOCK link set o"), ["other"])
        # No daemon at the socket: nothing offered, nothing printed.
        self.assertEqual(self.offered("vnetctl -s /nonexistent/qmp.sock netdev show "), [])


if __name__ == "__main__":
    main()
