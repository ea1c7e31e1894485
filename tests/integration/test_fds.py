#!/usr/bin/env python3
"""File descriptors over SCM_RIGHTS: getfd, closefd, and that the daemon's
open fd count (/proc/PID/fd) comes back to where it was, whatever a client
does with fds."""
import os

from vnetd_harness import VnetdTestCase, main, pipe_identity, reader_gone

NO_FD = "No file descriptor supplied via SCM_RIGHTS"


class FdTest(VnetdTestCase):

    def setUp(self):
        super().setUp()
        # The observer stays connected; the baseline counts its socket.
        self.observer = self.connect()
        self.observer.cmd("query-netdevs")
        self.baseline = self.daemon.fd_count()
        self.local_fds = []
        self.addCleanup(self._close_local_fds)

    def _close_local_fds(self):
        for fd in self.local_fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def pipe(self):
        """A pipe whose read end we hand over; returns (read, write)."""
        r, w = os.pipe()
        self.local_fds += [r, w]
        return r, w

    def drop_local(self, fd):
        os.close(fd)
        self.local_fds.remove(fd)

    def assert_fd_count(self, expected, what):
        count = self.daemon.wait_fd_count(expected)
        self.assertEqual(count, expected,
                         f"{what}: vnetd has {count} fds open, expected {expected} "
                         f"(baseline {self.baseline}); open: {sorted(self.daemon.open_fds().items())}")

    def daemon_holds(self, fd):
        return pipe_identity(fd) in self.daemon.open_fds().values()

    def test_getfd_then_closefd(self):
        client = self.connect()
        connected = self.baseline + 1
        self.assert_fd_count(connected, "after a client connected")
        r, w = self.pipe()
        self.assertEqual(client.execute("getfd", {"fdname": "pipe0"}, fds=[r]), {"return": {}})
        self.drop_local(r)
        self.assert_fd_count(connected + 1, "after getfd")
        self.assertTrue(self.daemon_holds(w), "the fd named by getfd is not the one we sent")
        self.assertFalse(reader_gone(w))

        self.assertEqual(client.execute("closefd", {"fdname": "pipe0"}), {"return": {}})
        self.assert_fd_count(connected, "after closefd")
        self.assertTrue(reader_gone(w), "closefd did not close the named fd")
        self.assert_error(client.execute("closefd", {"fdname": "pipe0"}), "GenericError",
                          "File descriptor named 'pipe0' not found")
        client.close()
        self.assert_fd_count(self.baseline, "after the client disconnected")

    def test_getfd_errors(self):
        client = self.connect()
        connected = self.baseline + 1
        self.assert_error(client.execute("getfd", {"fdname": "nofd"}), "GenericError", NO_FD)
        self.assert_error(client.execute("closefd", {"fdname": "nofd"}), "GenericError",
                          "File descriptor named 'nofd' not found")
        self.assert_error(client.execute("closefd", {"fdname": "x"}), "GenericError",
                          "File descriptor named 'x' not found")
        # A digit-led name is refused and the fd sent with it closed.
        r, w = self.pipe()
        self.assert_error(client.execute("getfd", {"fdname": "0pipe"}, fds=[r]), "GenericError",
                          "Parameter 'fdname' expects a name not starting with a digit")
        self.drop_local(r)
        self.assert_fd_count(connected, "after getfd with a digit-led name")
        self.assertTrue(reader_gone(w))
        self.assert_error(client.execute("closefd", {"fdname": "0pipe"}), "GenericError",
                          "File descriptor named '0pipe' not found")
        # An fd is taken by one getfd only.
        r, w = self.pipe()
        self.assertEqual(client.execute("getfd", {"fdname": "once"}, fds=[r]), {"return": {}})
        self.assert_error(client.execute("getfd", {"fdname": "twice"}), "GenericError", NO_FD)
        self.assertEqual(client.execute("closefd", {"fdname": "once"}), {"return": {}})
        self.drop_local(r)
        self.assert_fd_count(connected, "after getfd/closefd")

    def test_getfd_same_name_replaces_and_closes_the_old_fd(self):
        client = self.connect()
        connected = self.baseline + 1
        r1, w1 = self.pipe()
        r2, w2 = self.pipe()
        self.assertEqual(client.execute("getfd", {"fdname": "dup"}, fds=[r1]), {"return": {}})
        self.assertEqual(client.execute("getfd", {"fdname": "dup"}, fds=[r2]), {"return": {}})
        self.drop_local(r1)
        self.drop_local(r2)
        self.assert_fd_count(connected + 1, "after two getfd with one name")
        self.assertTrue(reader_gone(w1), "the replaced fd is still open")
        self.assertFalse(reader_gone(w2))
        self.assertEqual(client.execute("closefd", {"fdname": "dup"}), {"return": {}})
        self.assertTrue(reader_gone(w2))
        self.assert_fd_count(connected, "after closefd")

    def test_getfd_keeps_the_first_fd_of_a_batch(self):
        client = self.connect()
        connected = self.baseline + 1
        pipes = [self.pipe() for _ in range(4)]
        reply = client.execute("getfd", {"fdname": "first"}, fds=[r for r, _ in pipes])
        self.assertEqual(reply, {"return": {}})
        for r, _ in pipes:
            self.drop_local(r)
        self.assert_fd_count(connected + 1, "after getfd with four fds")
        self.assertFalse(reader_gone(pipes[0][1]), "getfd did not keep the first fd")
        for k, (_, w) in enumerate(pipes[1:], 1):
            self.assertTrue(reader_gone(w), f"fd {k} of the batch was kept")
        client.close()
        self.assert_fd_count(self.baseline, "after the client disconnected")
        self.assertTrue(reader_gone(pipes[0][1]))

    def test_named_fds_close_with_their_connection(self):
        client = self.connect()
        pipes = [self.pipe() for _ in range(3)]
        for k, (r, _) in enumerate(pipes):
            self.assertEqual(client.execute("getfd", {"fdname": f"fd{k}"}, fds=[r]), {"return": {}})
            self.drop_local(r)
        self.assert_fd_count(self.baseline + 1 + 3, "after three getfd")
        # Named fds belong to their connection: others cannot see or close them.
        other = self.connect()
        self.assert_error(other.execute("closefd", {"fdname": "fd0"}), "GenericError",
                          "File descriptor named 'fd0' not found")
        other.close()
        client.close()
        self.assert_fd_count(self.baseline, "after a client with named fds disconnected")
        for k, (_, w) in enumerate(pipes):
            self.assertTrue(reader_gone(w), f"named fd{k} outlived its connection")

    def test_fds_sent_without_getfd_do_not_leak(self):
        client = self.connect()
        connected = self.baseline + 1
        for n in range(10):
            pipes = [self.pipe() for _ in range(3)]
            reply = client.execute("query-version", id=n, fds=[r for r, _ in pipes])
            self.assertIn("return", reply)
            for r, _ in pipes:
                self.drop_local(r)
        self.assertEqual(client.sync(), [])
        # At most the latest message's unclaimed fds are kept (QEMU keeps them
        # for a later getfd); earlier ones are closed.
        count = self.daemon.fd_count()
        self.assertLessEqual(count, connected + 3, f"unclaimed fds pile up: {sorted(self.daemon.open_fds().items())}")
        # More fds than QEMU takes in one message (16).
        pipes = [self.pipe() for _ in range(20)]
        self.assertIn("return", client.execute("query-netdevs", fds=[r for r, _ in pipes]))
        for r, _ in pipes:
            self.drop_local(r)
        self.assertLessEqual(self.daemon.fd_count(), connected + 20)
        # fds sent with a command that fails, and with a parse error.
        r, _ = self.pipe()
        self.assertIn("error", client.execute("netdev_del", {"id": "nosuch"}, fds=[r]))
        self.drop_local(r)
        r, _ = self.pipe()
        client.send_raw(b"{garbage}", fds=[r])
        self.drop_local(r)
        self.assertEqual(len(client.sync()), 1)
        client.close()
        self.assert_fd_count(self.baseline, "after a client that sent unclaimed fds disconnected")
        for _, w in pipes:
            self.assertTrue(reader_gone(w))

    def test_getfd_after_unclaimed_fds_takes_the_latest(self):
        client = self.connect()
        connected = self.baseline + 1
        r_old, w_old = self.pipe()
        r_new, w_new = self.pipe()
        self.assertIn("return", client.execute("query-version", fds=[r_old]))
        self.assertIn("return", client.execute("query-version", fds=[r_new]))
        # As QEMU: a message's fds replace the unclaimed fds of an earlier one.
        self.assertEqual(client.execute("getfd", {"fdname": "late"}), {"return": {}})
        self.drop_local(r_old)
        self.drop_local(r_new)
        self.assert_fd_count(connected + 1, "after getfd of an earlier message's fd")
        self.assertTrue(reader_gone(w_old))
        self.assertFalse(reader_gone(w_new))
        self.assertEqual(client.execute("closefd", {"fdname": "late"}), {"return": {}})
        self.assert_fd_count(connected, "after closefd")

    def test_netdev_get_fds_of_a_hubport_sends_none(self):
        client = self.connect()
        client.cmd("netdev_add", type="hubport", id="h0", hubid=0)
        self.assertEqual(client.execute("netdev-get-fds", {"id": "h0"}), {"return": {"fds": []}})
        self.assertEqual(client.sync(), [])
        self.assertEqual(client.received_fds, [], "a hubport's netdev-get-fds came with fds")
        client.cmd("netdev_del", id="h0")
        client.close()
        self.assert_fd_count(self.baseline, "after netdev-get-fds on a hubport")


if __name__ == "__main__":
    main()
