#!/usr/bin/env python3
"""Many clients at once: each gets its own replies, in order; events reach
every negotiated client and no other."""
import threading

from vnetd_harness import VnetdTestCase, main

CLIENTS = 20
ROUNDS = 10  # each round: 6 requests, one add, one set_link, one del


def round_requests(client, n):
    """(command, arguments, what the reply must be) for client's round n."""
    netdev = f"c{client}_r{n}"
    return [
        ("netdev_add", {"type": "hubport", "id": netdev, "hubid": client}, "empty"),
        ("query-version", None, "version"),
        ("query-netdevs", None, ("has", netdev)),
        ("set_link", {"name": netdev, "up": False}, "empty"),
        ("no-such-command", None, "CommandNotFound"),
        ("netdev_del", {"id": netdev}, "empty"),
    ]


class ConcurrencyTest(VnetdTestCase):

    def check_reply(self, reply, expected, where):
        if expected == "empty":
            self.assertEqual(reply.get("return"), {}, where)
        elif expected == "version":
            self.assertIn("qemu", reply.get("return", {}), where)
        elif expected == "CommandNotFound":
            self.assert_error(reply, "CommandNotFound", msg=where)
        else:
            ids = [n["id"] for n in reply.get("return", [])]
            self.assertIn(expected[1], ids, where)

    def test_twenty_clients_interleaved(self):
        clients = [self.connect() for _ in range(CLIENTS)]
        start = threading.Barrier(CLIENTS)
        results = [None] * CLIENTS

        def run(k):
            client = clients[k]
            try:
                start.wait(10)
                sent = []
                for n in range(ROUNDS):
                    for command, arguments, expected in round_requests(k, n):
                        id = {"client": k, "seq": len(sent)}
                        client.send(command, arguments, id=id)
                        sent.append((id, expected, command))
                results[k] = (sent, [client.read_reply() for _ in sent])
            except Exception as e:  # reported by the main thread
                results[k] = e

        threads = [threading.Thread(target=run, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for k in range(CLIENTS):
            with self.subTest(client=k):
                self.assertNotIsInstance(results[k], Exception, f"client {k}: {results[k]}")
                self.assertIsNotNone(results[k], f"client {k} did not finish")
                sent, replies = results[k]
                self.assertEqual([r.get("id") for r in replies], [id for id, _, _ in sent],
                                 f"client {k} got replies out of order or someone else's")
                for (id, expected, command), reply in zip(sent, replies):
                    self.check_reply(reply, expected, f"client {k} {command} {id}: {reply}")

        # Every add, link change and delete reached every client as one event.
        total = CLIENTS * ROUNDS
        for k, client in enumerate(clients):
            with self.subTest(client=k):
                self.assertEqual(client.sync(), [])
                counts = {name: len(client.take_events(name))
                          for name in ("VNET_NETDEV_ADDED", "VNET_LINK_CHANGED", "VNET_NETDEV_DELETED")}
                self.assertEqual(counts, {"VNET_NETDEV_ADDED": total, "VNET_LINK_CHANGED": total,
                                          "VNET_NETDEV_DELETED": total})
                self.assertEqual(client.events, [])
        self.assertEqual(clients[0].cmd("query-netdevs"), [])

    def test_events_reach_every_negotiated_client_and_no_other(self):
        negotiated = [self.connect() for _ in range(5)]
        waiting = [self.connect(negotiate=False) for _ in range(3)]

        self.assertEqual(negotiated[0].cmd("netdev_add", type="hubport", id="e0", hubid=0), {})
        for k, client in enumerate(negotiated):
            with self.subTest(client=k):
                self.assertEqual(client.sync(), [])
                events = client.take_events()
                self.assertEqual(len(events), 1, f"client {k} got {events}")
                self.assert_event_shape(events[0], "VNET_NETDEV_ADDED", {"id": "e0", "type": "hubport"})
        for k, client in enumerate(waiting):
            with self.subTest(waiting=k):
                # Anything sent to this client would come before this answer.
                client.send("query-version", id="w")
                first = client.read_message()
                self.assertNotIn("event", first, f"un-negotiated client {k} got an event")
                self.assertEqual(first.get("id"), "w", first)

        # A client that negotiates now gets the events from then on.
        late = waiting.pop()
        late.cmd("qmp_capabilities")
        negotiated.append(late)
        self.assertEqual(negotiated[1].cmd("set_link", name="e0", up=False), {})
        self.assertEqual(negotiated[2].cmd("netdev_del", id="e0"), {})
        for k, client in enumerate(negotiated):
            with self.subTest(client=k):
                self.assertEqual(client.sync(), [])
                events = client.take_events()
                self.assertEqual([e["event"] for e in events], ["VNET_LINK_CHANGED", "VNET_NETDEV_DELETED"])
                self.assert_event_shape(events[0], "VNET_LINK_CHANGED", {"name": "e0", "up": False})
                self.assert_event_shape(events[1], "VNET_NETDEV_DELETED", {"id": "e0"})
        for k, client in enumerate(waiting):
            with self.subTest(waiting=k):
                client.send("query-version", id="w2")
                first = client.read_message()
                self.assertNotIn("event", first, f"un-negotiated client {k} got an event")
                self.assertEqual(first.get("id"), "w2", first)


if __name__ == "__main__":
    main()
