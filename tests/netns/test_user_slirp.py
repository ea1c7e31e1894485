#!/usr/bin/env python3
"""The user netdev (libslirp) driven from a tap in a network namespace, as a
guest would drive QEMU's: the tap vt0 is on a hub with the user netdev, so
vnetd carries its frames to slirp and back.

  - DHCP: busybox udhcpc on vt0 gets the lease slirp offers (10.0.2.15 and
    QEMU's defaults; then net=, dhcpstart=, dns=, domainname= and dnssearch=
    changed, as the client's script sees them);
  - hostfwd: a TCP connection to vnetd's forwarded host port reaches a server
    listening on the leased address inside the namespace, bytes both ways;
  - NAT: from vt0's address, a connection to 10.0.2.2 reaches a server on the
    host side's 127.0.0.1;
  - guestfwd cmd: a connection from the guest to 10.0.2.100:4321 talks to a
    command vnetd's slirp runs;
  - guestfwd to tcp:HOST:PORT: connected when the netdev is added (as QEMU's
    chardev), the guest's connection talks to that server, bytes both ways;
  - many short hostfwd connections in a row, each one answered (slirp's
    sockets come and go; this does not force a closed socket's number to be
    reused within one cycle, the case unregister_poll_fd guards);
  - bad rules: QEMU's texts, in its order (a rule's setup failure before a
    later rule's syntax), and nothing left behind.
Each test in its own namespace."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from netns_harness import NamespaceTestCase  # noqa: E402

SCRIPT = textwrap.dedent("""\
    #!/bin/sh
    # udhcpc's event script: record the lease, and configure vt0 with it.
    if [ "$1" = bound ] || [ "$1" = renew ]; then
        env | grep -E '^(ip|subnet|router|dns|domain|search|serverid|mask)=' | sort > "$LEASE_FILE"
        ip addr add "$ip/${mask:-24}" dev "$interface"
    fi
    exit 0
    """)


class UserNetdevFromATap(NamespaceTestCase):

    def setUp(self):
        super().setUp()
        busybox = shutil.which("busybox")
        if not busybox:
            self.fail("busybox (Debian's busybox or busybox-static) is needed for udhcpc: apt-get install busybox")
        self.busybox = busybox
        # guestfwd cmd: and smb= are refused unless [programs] allows them.
        config = os.path.join(self.work, "vnetd.toml")
        with open(config, "w") as f:
            f.write('[programs]\nuser-guestfwd-cmd = true\nuser-dirs = ["/tmp"]\n')
        self.start_daemon(extra_args=["--config", config])
        self.script = os.path.join(self.work, "udhcpc.sh")
        with open(self.script, "w") as f:
            f.write(SCRIPT)
        os.chmod(self.script, 0o755)
        self.lease_file = os.path.join(self.work, "lease")

    def build(self, **user_options):
        for netdev in ({"type": "tap", "id": "t0", "ifname": "vt0"},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "t0"},
                       {"type": "user", "id": "u0", **user_options},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "u0"}):
            self.client.cmd("netdev_add", **netdev)
        self.sh("ip link set vt0 up")

    def dhcp(self):
        result = subprocess.run(["ip", "netns", "exec", self.ns, "env", f"LEASE_FILE={self.lease_file}",
                                 self.busybox, "udhcpc", "-i", "vt0", "-f", "-q", "-n", "-t", "5", "-T", "1",
                                 "-s", self.script],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, f"udhcpc got no lease: {result.stdout}{result.stderr}")
        with open(self.lease_file) as f:
            return dict(line.strip().split("=", 1) for line in f if "=" in line)

    def ns_python(self, code, *args):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c", code, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_dhcp_gives_qemus_default_lease(self):
        self.build()
        lease = self.dhcp()
        self.assertEqual(lease["ip"], "10.0.2.15")
        self.assertEqual(lease["router"], "10.0.2.2")
        self.assertEqual(lease["dns"], "10.0.2.3")
        self.assertEqual(lease["serverid"], "10.0.2.2")
        self.assertIn("10.0.2.15/24", self.sh("ip -4 addr show dev vt0"))
        details = {n["id"]: n["details"] for n in self.client.cmd("query-netdevs")}
        self.assertGreater(details["u0"]["frames-in"], 0)
        self.assertEqual(details["t0"]["carried-by"], "vnetd")

    def test_dhcp_with_our_network_options(self):
        self.build(net="192.168.76.0/24", dhcpstart="192.168.76.50", dns="192.168.76.53",
                   domainname="lab.example", dnssearch=[{"str": "a.example"}, {"str": "b.example"}])
        lease = self.dhcp()
        self.assertEqual((lease["ip"], lease["router"], lease["dns"]), ("192.168.76.50", "192.168.76.2", "192.168.76.53"))
        self.assertEqual(lease.get("domain"), "lab.example")
        self.assertEqual(lease.get("search", "").split(), ["a.example", "b.example"])

    def test_hostfwd_reaches_a_server_in_the_namespace(self):
        self.build(hostfwd=[{"str": "tcp:127.0.0.1:47601-:8080"}])
        self.dhcp()
        server = self.ns_python(textwrap.dedent("""
            import socket, sys
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("10.0.2.15", 8080)); s.listen(1); print("ready", flush=True)
            c, peer = s.accept(); data = c.recv(100)
            c.sendall(b"guest says: " + data + b" from " + peer[0].encode()); c.close()
            """))
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "ready", server.stderr.read() if server.poll() else "")
        client = self.ns_python(textwrap.dedent("""
            import socket
            c = socket.create_connection(("127.0.0.1", 47601), timeout=10); c.sendall(b"hello")
            print(c.recv(200).decode())
            """))
        out, err = client.communicate(timeout=20)
        self.assertEqual(out.strip(), "guest says: hello from 10.0.2.2", err)

    def test_nat_from_the_guest_to_the_host(self):
        self.build()
        self.dhcp()
        server = self.ns_python(textwrap.dedent("""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 47602)); s.listen(1); print("ready", flush=True)
            c, peer = s.accept(); c.sendall(b"host says: " + c.recv(100)); c.close()
            """))
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "ready")
        client = self.ns_python(textwrap.dedent("""
            import socket
            c = socket.socket(); c.bind(("10.0.2.15", 0)); c.settimeout(10)
            c.connect(("10.0.2.2", 47602)); c.sendall(b"hi"); print(c.recv(200).decode())
            """))
        out, err = client.communicate(timeout=20)
        self.assertEqual(out.strip(), "host says: hi", err)

    def test_guestfwd_to_a_command(self):
        self.build(guestfwd=[{"str": "tcp:10.0.2.100:4321-cmd:echo from the command"}])
        self.dhcp()
        client = self.ns_python(textwrap.dedent("""
            import socket
            c = socket.socket(); c.bind(("10.0.2.15", 0)); c.settimeout(10)
            c.connect(("10.0.2.100", 4321)); print(c.recv(200).decode().strip())
            """))
        out, err = client.communicate(timeout=20)
        self.assertEqual(out.strip(), "from the command", err)

    def test_guestfwd_to_a_tcp_server(self):
        server = self.ns_python(textwrap.dedent("""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 47604)); s.listen(1); print("ready", flush=True)
            c, _ = s.accept(); print("connected", flush=True)
            data = c.recv(100); c.sendall(b"host end says: " + data); print(data.decode(), flush=True)
            c.recv(1)
            """))
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "ready")
        # QEMU opens the chardev, so connects, when the netdev is added.
        self.build(guestfwd=[{"str": "tcp:10.0.2.100:4322-tcp:127.0.0.1:47604,nodelay"}])
        self.assertEqual(server.stdout.readline().strip(), "connected")
        self.dhcp()
        client = self.ns_python(textwrap.dedent("""
            import socket
            c = socket.socket(); c.bind(("10.0.2.15", 0)); c.settimeout(10)
            c.connect(("10.0.2.100", 4322)); c.sendall(b"ping"); print(c.recv(200).decode())
            """))
        out, err = client.communicate(timeout=20)
        self.assertEqual(out.strip(), "host end says: ping", err)
        self.assertEqual(server.stdout.readline().strip(), "ping")
        details = {n["id"]: n["details"] for n in self.client.cmd("query-netdevs")}["u0"]
        self.assertEqual((details["guestfwd-4322-bytes-to-host"], details["guestfwd-4322-bytes-to-guest"]),
                         (4, len("host end says: ping")))

    def test_many_hostfwd_connections_in_a_row(self):
        self.build(hostfwd=[{"str": "tcp:127.0.0.1:47605-:8081"}])
        self.dhcp()
        rounds = 60
        server = self.ns_python(textwrap.dedent(f"""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("10.0.2.15", 8081)); s.listen(8); print("ready", flush=True)
            for _ in range({rounds}):
                c, _ = s.accept(); c.sendall(c.recv(100).upper()); c.close()
            """))
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "ready")
        client = self.ns_python(textwrap.dedent(f"""
            import socket
            for i in range({rounds}):
                c = socket.create_connection(("127.0.0.1", 47605), timeout=10)
                c.sendall(b"round %d" % i); answer = c.recv(100)
                assert answer == b"ROUND %d" % i, (i, answer)
                c.close()
            print("all answered")
            """))
        out, err = client.communicate(timeout=60)
        self.assertEqual(out.strip(), "all answered", err)

    def test_bad_rules_change_nothing(self):
        self.client.cmd("netdev_add", type="hubport", id="h9", hubid=9)
        before = [n["id"] for n in self.client.cmd("query-netdevs")]
        for options, text in (({"hostfwd": [{"str": "tcp:127.0.0.1:47603-:80"}, {"str": "bogus"}]},
                               "Invalid host forwarding rule 'bogus' (No : separators)"),
                              ({"guestfwd": [{"str": "tcp:10.0.2.100:1-file:/tmp/x"}]},
                               "Could not open guest forwarding device 'guestfwd.tcp.1': vnetd has no chardevs"),
                              # Nothing listens there: QEMU's text, nothing more.
                              ({"guestfwd": [{"str": "tcp:10.0.2.100:2-tcp:127.0.0.1:47606"}]},
                               "Could not open guest forwarding device 'guestfwd.tcp.2'"),
                              # The second rule is set up (and fails) before the first is read.
                              ({"hostfwd": [{"str": "bogus"}, {"str": "tcp:127.0.0.1:47607-:80"},
                                            {"str": "tcp:127.0.0.1:47607-:81"}]},
                               "Could not set up host forwarding rule 'tcp:127.0.0.1:47607-:80'"),
                              ({"smb": "/tmp"}, "Could not find '/usr/sbin/smbd', please install it")):
            if "smb" in options and os.path.exists("/usr/sbin/smbd"):
                continue
            reply = self.client.execute("netdev_add", {"type": "user", "id": "u9", **options})
            desc = reply.get("error", {}).get("desc", "")
            if text.endswith("no chardevs"):  # vnetd's reason follows QEMU's text
                self.assertTrue(desc.startswith(text), reply)
            else:
                self.assertEqual(desc, text, reply)
        self.assertEqual([n["id"] for n in self.client.cmd("query-netdevs")], before)
        # Ports bound by rules set up before a later one failed are free again.
        for port in (47603, 47607):
            probe = self.ns_python(f"import socket; s=socket.socket(); s.bind(('127.0.0.1', {port})); print('free')")
            self.assertEqual(probe.communicate(timeout=10)[0].strip(), "free", port)


if __name__ == "__main__":
    unittest.main()
