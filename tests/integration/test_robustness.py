#!/usr/bin/env python3
"""Long runs and rough clients: the registry and the fd table come back to
where they started, and the daemon stops cleanly on SIGTERM and SIGINT."""
import os
import signal
import socket

from vnetd_harness import REPLY_TIMEOUT, NoReply, QmpClient, VnetdTestCase, main, reader_gone

CYCLES = 1000
BATCH = 100  # cycles pipelined per write


class RobustnessTest(VnetdTestCase):

    def assert_fd_count(self, expected, what):
        count = self.daemon.wait_fd_count(expected)
        self.assertEqual(count, expected, f"{what}: vnetd has {count} fds open, expected {expected}; "
                                          f"open: {sorted(self.daemon.open_fds().items())}")

    def test_thousand_add_del_cycles(self):
        client = self.connect()
        client.cmd("query-netdevs")
        baseline = self.daemon.fd_count()
        added = 0
        for start in range(0, CYCLES, BATCH):
            expected = []
            for n in range(start, start + BATCH):
                netdev = f"c{n}"
                requests = [("netdev_add", {"type": "hubport", "id": netdev, "hubid": n % 4})]
                added += 1
                if n % 3 == 0:
                    # Every third cycle also peers a second hubport with it
                    # and deletes the two in alternating order.
                    requests.append(("netdev_add", {"type": "hubport", "id": f"p{n}", "hubid": 9, "netdev": netdev}))
                    added += 1
                    pair = [f"p{n}", netdev] if n % 2 else [netdev, f"p{n}"]
                    requests += [("netdev_del", {"id": id}) for id in pair]
                else:
                    requests.append(("netdev_del", {"id": netdev}))
                for command, arguments in requests:
                    client.send(command, arguments, id=f"{command}/{arguments['id']}")
                    expected.append(f"{command}/{arguments['id']}")
            for tag in expected:
                reply = client.read_reply()
                self.assertEqual(reply, {"return": {}, "id": tag})
            self.assertEqual(client.cmd("query-netdevs"), [], f"after cycle {start + BATCH}")
        self.assertEqual(client.sync(), [])
        self.assertEqual(len(client.take_events("VNET_NETDEV_ADDED")), added)
        self.assertEqual(len(client.take_events("VNET_NETDEV_DELETED")), added)
        self.assertEqual(client.events, [])
        self.assert_fd_count(baseline, f"after {CYCLES} add/del cycles")

    def test_clients_come_and_go(self):
        observer = self.connect()
        observer.cmd("query-netdevs")
        baseline = self.daemon.fd_count()
        pipes = []
        try:
            for n in range(200):
                kind = n % 8
                if kind == 0:  # gone before reading the greeting
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.connect(self.daemon.socket_path)
                    sock.close()
                    continue
                client = QmpClient(self.daemon.socket_path, negotiate=kind != 1)
                if kind == 2:  # gone mid-message
                    client.send_raw(b'{"execute": "netdev_add", "arguments": {"type": "hub')
                elif kind == 3:  # gone with named fds
                    r, w = os.pipe()
                    pipes.append(w)
                    self.assertEqual(client.execute("getfd", {"fdname": "f"}, fds=[r]), {"return": {}})
                    os.close(r)
                elif kind == 4:  # gone with replies unread
                    for _ in range(50):
                        client.send("query-qmp-schema")
                elif kind == 5:  # gone with unclaimed fds
                    r, w = os.pipe()
                    pipes.append(w)
                    client.send("query-version", fds=[r])
                    os.close(r)
                elif kind == 6:  # gone right after a netdev it made
                    client.cmd("netdev_add", type="hubport", id=f"left{n}", hubid=0)
                    client.send("netdev_del", {"id": f"left{n}"})
                elif kind == 7:  # half-closed, then gone
                    client.send("query-netdevs")
                    client.sock.shutdown(socket.SHUT_WR)
                client.close()
            self.assertEqual(observer.sync(), [])
            self.assert_fd_count(baseline, "after 200 clients came and went")
            for k, w in enumerate(pipes):
                self.assertTrue(reader_gone(w), f"an fd of departed client {k} is still open")
        finally:
            for w in pipes:
                os.close(w)
        # A request written before the client went away is still carried out.
        self.assertEqual(observer.cmd("query-netdevs"), [])

    def test_client_that_stops_reading_does_not_block_others(self):
        observer = self.connect()
        stalled = self.connect()
        # query-qmp-schema answers ~10 KiB: 30 rounds leave far more unread
        # than a client may have pending (docs/qmp.md). As QEMU's monitor,
        # vnetd then stops answering and reading that client (back-pressure):
        # its writes block, and nobody else notices.
        request = b'{"execute": "query-qmp-schema"}' * 100
        stalled.sock.settimeout(1.0)
        blocked = False
        for _ in range(30):
            try:
                stalled.sock.sendall(request)
            except TimeoutError:
                blocked = True
                break
            self.assertEqual(observer.sync(), [], "others are blocked by a client that does not read")
        self.assertTrue(blocked, "the daemon kept reading a client that takes none of its replies")
        self.assertLess(self.daemon.fd_count(), 64, "fds pile up while a client is stalled")
        observer.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        self.assertEqual(observer.sync(), [])
        stalled.close()
        self.clients.remove(stalled)
        self.assertEqual(observer.cmd("query-netdevs")[0]["id"], "h0")

    def test_pipelining_client_that_reads_is_served_in_full(self):
        # 2000 requests in one 62 KB write whose answers (~20 MB in all) the
        # client reads as they come: nothing is left unread for long, so
        # nothing justifies dropping it (QEMU 7.2 answers every one).
        client = self.connect()
        count = 2000
        client.send_raw(b'{"execute": "query-qmp-schema"}' * count)
        for n in range(count):
            try:
                reply = client.read_reply(timeout=2 * REPLY_TIMEOUT)
            except NoReply as e:
                self.fail(f"a client pipelining {count} requests and reading every reply got only {n} replies: {e}")
            self.assertIsInstance(reply.get("return"), list, reply)
        self.assertEqual(client.sync(), [])

    def stop_with_everything_in_use(self, sig):
        busy = self.connect()
        busy.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        busy.cmd("netdev_add", type="hubport", id="h1", hubid=0, netdev="h0")
        busy.cmd("set_link", name="h1", up=False)
        r, w = os.pipe()
        self.addCleanup(os.close, w)
        self.assertEqual(busy.execute("getfd", {"fdname": "kept"}, fds=[r]), {"return": {}})
        os.close(r)
        midway = self.connect()
        midway.send_raw(b'{"execute": "netdev_add", "arguments": {')
        waiting = self.connect(negotiate=False)
        self.daemon_stopped_by_test = True
        self.assert_clean_stop(sig)
        self.assertTrue(reader_gone(w), "a named fd outlived the daemon")
        for client in (busy, midway, waiting):
            client.sock.settimeout(REPLY_TIMEOUT)
            rest = b""
            while True:
                data = client.sock.recv(65536)
                if not data:
                    break
                rest += data
            # Whatever came last is whole lines (events, at most); then EOF.
            self.assertTrue(rest == b"" or rest.endswith(b"\n"), rest)

    def test_a_full_fd_table_pauses_accepting_instead_of_spinning(self):
        """With its fd table full, accept() fails with EMFILE and the listener
        stays readable: vnetd must back off rather than spin, and serve again
        once fds are free (issue 17, defect 5)."""
        import resource
        import time
        client = self.connect()
        count = self.daemon.fd_count()
        soft, hard = resource.prlimit(self.daemon.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(self.daemon.pid, resource.RLIMIT_NOFILE, (count + 4, hard))
        extra = []
        for _ in range(12):  # more than the limit leaves room for
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.daemon.socket_path)
            extra.append(sock)
        stat = f"/proc/{self.daemon.pid}/stat"
        ticks = lambda: sum(int(x) for x in open(stat).read().rsplit(")", 1)[1].split()[11:13])
        before, started = ticks(), time.monotonic()
        time.sleep(1.0)
        used = (ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - started)
        self.assertLess(used, 0.3, f"vnetd used {used:.0%} of a CPU with its fd table full (a busy loop)")
        self.assertIn("return", client.execute("query-version"), "a connected client is still served")
        for sock in extra:
            sock.close()
        resource.prlimit(self.daemon.pid, resource.RLIMIT_NOFILE, (soft, hard))
        late = self.connect()  # accepted again once there is room
        self.assertIn("return", late.execute("query-version"))

    def test_the_soft_fd_limit_is_raised_to_the_hard_one(self):
        """A soft RLIMIT_NOFILE of 1024 stopped vnetd at the 253rd four-queue
        tap: it raises its soft limit to the hard one (issue 17, defect 6)."""
        import resource
        import shutil
        import tempfile
        from vnetd_harness import Vnetd
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        low = min(1024, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
        try:
            work = tempfile.mkdtemp(prefix="vnt-rlimit-")
            self.addCleanup(shutil.rmtree, work, True)
            daemon = Vnetd(work)
            daemon.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        try:
            self.assertEqual(resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE), (hard, hard),
                             f"started with a soft limit of {low}")
        finally:
            daemon.stop(signal.SIGTERM)

    def test_getfd_is_capped_per_client(self):
        client = self.connect()
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        for n in range(1024):
            client.send("getfd", {"fdname": f"f{n}"}, fds=[r])
            if n % 64 == 63:
                for _ in range(64):
                    self.assertEqual(client.read_reply(), {"return": {}})
        reply = client.execute("getfd", {"fdname": "one-more"}, fds=[r])
        self.assertIn("1024 named fds", reply.get("error", {}).get("desc", ""), reply)
        # Replacing a name already held is still fine, and closefd makes room.
        self.assertEqual(client.execute("getfd", {"fdname": "f0"}, fds=[r]), {"return": {}})
        self.assertEqual(client.execute("closefd", {"fdname": "f1"}), {"return": {}})
        self.assertEqual(client.execute("getfd", {"fdname": "one-more"}, fds=[r]), {"return": {}})

    def test_a_full_state_dir_refuses_changes_and_loses_nothing(self):
        """On a state dir that fills up, a change that cannot be recorded is
        refused before it is made; what was answered survives kill -9 (the
        probe saw 150 adds answered on a 64 KiB tmpfs and 86 recorded; issue
        17, defect 3)."""
        import shutil
        import subprocess
        import tempfile
        from vnetd_harness import Vnetd
        work = tempfile.mkdtemp(prefix="vnt-full-")
        self.addCleanup(shutil.rmtree, work, True)
        state = os.path.join(work, "state")
        os.makedirs(state)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", state], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", state])
        first = Vnetd(work)
        first.start()
        self.addCleanup(first.kill)
        client = QmpClient(first.socket_path)
        answered, refused = [], 0
        for n in range(5000):
            reply = client.execute("netdev_add", {"type": "hubport", "id": f"f{n}", "hubid": n % 8})
            if reply == {"return": {}}:
                answered.append(f"f{n}")
                continue
            self.assertIn("cannot record a change", reply.get("error", {}).get("desc", ""), reply)
            refused += 1
            if refused == 10:
                break
        self.assertEqual(refused, 10, f"the 160 KiB state dir never filled ({len(answered)} adds answered)")
        print(f"state dir full after {len(answered)} adds")
        listed = [n["id"] for n in client.cmd("query-netdevs")]
        self.assertEqual(listed, answered, "a refused add left a netdev behind")
        client.close()
        first.kill()
        os.unlink(first.socket_path)
        second = Vnetd(work)
        second.start()
        self.addCleanup(second.kill)
        client = QmpClient(second.socket_path)
        self.assertEqual([n["id"] for n in client.cmd("query-netdevs")], answered,
                         "an add answered before kill -9 was lost, or a refused one came back")
        self.assertEqual([f for f in os.listdir(state) if f.endswith(".new")], [], "a partial file was left")
        client.close()

    def test_the_socket_path_replaces_only_a_stale_socket(self):
        """--socket at a path holding another kind of file refuses to start
        and leaves the file alone (it used to unlink whatever was there); the
        socket is created 0660 (issue 17, defect 9)."""
        import stat
        import subprocess
        import tempfile
        from vnetd_harness import vnetd_binary
        work = tempfile.mkdtemp(prefix="vnt-sock-")
        path = os.path.join(work, "precious")
        with open(path, "w") as f:
            f.write("keep me\n")
        done = subprocess.run(["unshare", "--net", "--", vnetd_binary(), "--socket", path, "--state-dir",
                               os.path.join(work, "state"), "--bridge-acl", os.path.join(work, "acl")],
                              capture_output=True, text=True, timeout=10)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("is not a socket", done.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.daemon.socket_path).st_mode), 0o660)

    def test_vdpa_selftest_takes_device_names_only(self):
        client = self.connect()
        for dev in ("../../../etc", "a/b", "..", ""):
            reply = client.execute("vdpa-selftest", {"dev": dev})
            self.assertEqual(reply.get("error", {}).get("desc"), f"'{dev}' is not a vDPA device name", reply)
        reply = client.execute("vdpa-selftest", {"dev": "vdpa0", "timeout-ms": 600000})
        self.assertIn("timeout-ms: at most 10000", reply.get("error", {}).get("desc", ""), reply)

    def test_sigterm_with_clients_netdevs_and_fds(self):
        self.stop_with_everything_in_use(signal.SIGTERM)

    def test_sigint_with_clients_netdevs_and_fds(self):
        self.stop_with_everything_in_use(signal.SIGINT)

    def test_sigterm_when_idle(self):
        self.daemon_stopped_by_test = True
        self.assert_clean_stop(signal.SIGTERM)


if __name__ == "__main__":
    main()
