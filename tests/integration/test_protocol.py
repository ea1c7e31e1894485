#!/usr/bin/env python3
"""The QMP protocol as a client sees it: greeting, negotiation, id echo,
framing of requests across and within writes, and what bad input gets."""
import json
import socket
import time

from vnetd_harness import SHORT_TIMEOUT, NoReply, QmpClient, VnetdTestCase, main

NEGOTIATE_FIRST = "Expecting capabilities negotiation with 'qmp_capabilities'"
ALREADY_NEGOTIATED = "Capabilities negotiation is already complete, command ignored"


def typed(value):
    """value with its JSON types made visible: 1 and True differ. A float
    with an integral value comes back as an integer, as QEMU writes it
    ("%.17g": 2.0 -> 2), so it is compared as one."""
    if isinstance(value, list):
        return ["list", [typed(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", {k: typed(v) for k, v in value.items()}]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return ["int", int(value)]
    return [type(value).__name__, value]


def nested_arrays(depth):
    return "[" * depth + "]" * depth


class ProtocolTest(VnetdTestCase):

    def assert_only_parse_errors(self, replies, what):
        self.assertGreaterEqual(len(replies), 1, f"{what!r} got no error reply")
        for reply in replies:
            self.assert_error(reply, "GenericError", msg=f"{what!r} answered {replies}")

    def test_greeting_has_qemu_shape(self):
        client = self.connect(negotiate=False)
        greeting = client.greeting
        self.assertEqual(list(greeting), ["QMP"])
        self.assertEqual(set(greeting["QMP"]), {"version", "capabilities"})
        self.assertEqual(greeting["QMP"]["capabilities"], ["oob"])
        version = greeting["QMP"]["version"]
        self.assertEqual(set(version), {"qemu", "package"})
        self.assertEqual(version["package"], "vnetd 0.1.0")
        self.assertEqual(set(version["qemu"]), {"major", "minor", "micro"})
        for part in version["qemu"].values():
            self.assertIs(type(part), int)
        # Nothing else arrives until the client speaks.
        self.assertTrue(client.nothing_pending())
        client.cmd("qmp_capabilities")
        self.assertEqual(client.cmd("query-version"), version)
        # Every connection gets its own greeting.
        self.assertEqual(self.connect(negotiate=False).greeting, greeting)

    def test_negotiation_rules(self):
        client = self.connect(negotiate=False)
        for command, arguments in [("query-version", None), ("query-commands", None),
                                   ("netdev_add", {"type": "hubport", "id": "early", "hubid": 0}),
                                   ("getfd", {"fdname": "x"}), ("no-such-command", None)]:
            with self.subTest(command=command):
                self.assert_error(client.execute(command, arguments), "CommandNotFound", NEGOTIATE_FIRST)
        self.assert_ok(client.execute("qmp_capabilities"), {})
        for _ in range(2):
            self.assert_error(client.execute("qmp_capabilities"), "CommandNotFound", ALREADY_NEGOTIATED)
        self.assert_error(client.execute("no-such-command"), "CommandNotFound",
                          "The command no-such-command has not been found")
        # The netdev_add refused before negotiation left nothing behind.
        self.assertEqual(client.cmd("query-netdevs"), [])
        # Negotiation is per connection.
        other = self.connect(negotiate=False)
        self.assert_error(other.execute("query-version"), "CommandNotFound", NEGOTIATE_FIRST)
        self.assert_ok(other.execute("qmp_capabilities", {"enable": ["oob"]}), {})
        self.assert_ok(other.execute("query-version"))

    def test_id_echoed_for_every_json_type(self):
        ids = [1, 0, -7, 9007199254740993, 2.5, -0.125, "abc", "", "é€😀 \"quoted\" \\", True, False, None,
               [], [1, "a", None, [2.0]], {}, {"k": {"n": [True, 1]}}, 18446744073709551615]
        unnegotiated = self.connect(negotiate=False)
        client = self.connect()
        for id in ids:
            with self.subTest(id=id):
                reply = unnegotiated.execute("query-version", id=id)
                self.assert_error(reply, "CommandNotFound")
                self.assertIn("id", reply)
                self.assertEqual(typed(reply["id"]), typed(id), f"before negotiation: {reply}")
                for command, arguments, ok in [("query-version", None, True),
                                               ("query-netdevs", None, True),
                                               ("no-such-command", None, False),
                                               ("netdev_del", {}, False),
                                               ("netdev_del", {"id": "nosuch"}, False)]:
                    reply = client.execute(command, arguments, id=id)
                    self.assertIn("return" if ok else "error", reply, f"{command}: {reply}")
                    self.assertIn("id", reply, f"{command}: {reply}")
                    self.assertEqual(typed(reply["id"]), typed(id), f"{command}: {reply}")

    def test_id_echoed_on_envelope_errors(self):
        client = self.connect()
        for raw, id in [('{"id": 5}', 5),
                        ('{"execute": 1, "id": "x"}', "x"),
                        ('{"execute": "query-version", "arguments": [], "id": [1, {"a": null}]}', [1, {"a": None}]),
                        ('{"execute": "query-version", "bogus": 1, "id": null}', None)]:
            with self.subTest(raw=raw):
                client.send_raw(raw)
                reply = client.read_reply()
                self.assert_error(reply, "GenericError")
                self.assertIn("id", reply)
                self.assertEqual(typed(reply["id"]), typed(id))

    def test_request_split_byte_by_byte(self):
        client = self.connect()
        # Braces, brackets, quotes and escapes inside a string, and multi-byte
        # UTF-8 characters cut between their bytes.
        tricky_id = 'a}]"{[ \\" \\\\ é€😀'
        request = ('{"execute": "query-version", "id": ' + json.dumps(tricky_id, ensure_ascii=False) + '}').encode()
        for i in range(len(request) - 1):
            client.send_raw(request[i:i + 1])
            time.sleep(0.001)
        self.assertTrue(client.nothing_pending(), "vnetd answered before the request was complete")
        client.send_raw(request[-1:])
        reply = client.read_reply()
        self.assert_ok(reply)
        self.assertEqual(reply["id"], tricky_id)

        add = b'{"execute": "netdev_add", "arguments": {"type": "hubport", "id": "split0", "hubid": 3}, "id": 9}'
        for i in range(len(add)):
            client.send_raw(add[i:i + 1])
            time.sleep(0.001)
        self.assertEqual(client.read_reply(), {"return": {}, "id": 9})
        self.assertEqual([n["id"] for n in client.cmd("query-netdevs")], ["split0"])

    def test_request_split_at_every_boundary(self):
        client = self.connect()
        request = b'{"execute":"query-version","id":"x\\"}"}'
        for cut in range(1, len(request)):
            with self.subTest(cut=cut):
                client.send_raw(request[:cut])
                time.sleep(0.002)
                client.send_raw(request[cut:])
                reply = client.read_reply()
                self.assert_ok(reply)
                self.assertEqual(reply["id"], 'x"}')

    def test_several_requests_in_one_write(self):
        client = self.connect(negotiate=False)
        client.send_raw(b'{"execute":"qmp_capabilities","id":"n"}{"execute":"query-version","id":"v"}')
        self.assertEqual(client.read_reply(), {"return": {}, "id": "n"})
        reply = client.read_reply()
        self.assert_ok(reply)
        self.assertEqual(reply["id"], "v")

        client.send_raw(b'{"execute":"query-version","id":1}{"execute":"query-commands","id":2}\n'
                        b'{"execute":"no-such-command","id":3}  {"execute":"netdev_add","arguments":'
                        b'{"type":"hubport","id":"h0","hubid":0},"id":4}\r\n\t{"execute":"query-netdevs","id":5}')
        replies = [client.read_reply() for _ in range(5)]
        self.assertEqual([r.get("id") for r in replies], [1, 2, 3, 4, 5], replies)
        self.assertIn("qemu", replies[0]["return"])
        self.assertIsInstance(replies[1]["return"], list)
        self.assert_error(replies[2], "CommandNotFound")
        self.assertEqual(replies[3]["return"], {})
        self.assertEqual([n["id"] for n in replies[4]["return"]], ["h0"])

    def test_bad_input_gets_errors_and_connections_keep_working(self):
        client = self.connect()
        bystander = self.connect()
        cases = [
            b"garbage\n",
            b"}\n",
            b"]]]\n",
            b"{]\n",
            b'{"execute"}\n',
            b'{"execute": "query-version",}\n',
            b'{"execute": "query-version" "id": 1}\n',
            b"[1, 2, 3]\n",
            b"42\n",
            b"null\n",
            b'"just a string"\n',
            b'{"execute": "query-version", "arguments": []}\n',
            b'{"execute": "query-version", "id": "\xff\xfe"}\n',
            b'{"execute": "query-version", "id": "\xc3"}\n',
            b"\x00",
            b"\x00\x00\x00\n",
            b'{"execute": "query-version", "id": "a\x00b"}',
            b'{"execute": "query-version"\x00, "id": 1}',
            b'{"execute": "query-version", "id": 1}\x00',
        ]
        for raw in cases:
            with self.subTest(raw=raw):
                client.send_raw(raw)
                replies = client.sync()
                # The last case is a good request followed by a stray NUL.
                if raw.startswith(b'{"execute": "query-version", "id": 1}'):
                    self.assertEqual(replies[0].get("id"), 1, replies)
                    replies = replies[1:]
                self.assert_only_parse_errors(replies, raw)
                self.assertEqual(bystander.sync(), [])
        self.assertEqual(client.cmd("query-netdevs"), [])

    def test_deep_nesting_gets_an_error(self):
        client = self.connect()
        bystander = self.connect()
        for raw in [nested_arrays(2000),
                    "{" * 2000 + "}" * 2000,
                    '{"execute": "query-version", "id": ' + nested_arrays(2000) + "}",
                    '{"execute": "query-version", "id": ' + nested_arrays(1024) + "}"]:
            with self.subTest(raw=raw[:40]):
                client.send_raw(raw + "\n")
                self.assert_only_parse_errors(client.sync(), raw[:40])
                self.assertEqual(bystander.sync(), [])
        # Within QEMU's limit (1024 levels in all) the request is fine.
        client.send_raw('{"execute": "query-version", "id": ' + nested_arrays(1000) + "}")
        reply = client.read_reply()
        self.assert_ok(reply)
        depth, value = 0, reply["id"]
        while isinstance(value, list) and value:
            depth, value = depth + 1, value[0]
        self.assertEqual(depth + 1, 1000)

    def test_oversized_messages_get_an_error(self):
        client = self.connect()
        bystander = self.connect()
        big_string = b'{"execute": "query-version", "id": "' + b"a" * (2 << 20) + b'"}'
        big_array = b'{"execute": "query-version", "id": [' + b"0," * (1 << 20) + b"0]}"
        big_object = b'{"execute": "query-version", "arguments": {' + b'"k": 1, ' * (300 << 10) + b'"k": 1}}'
        for raw in [big_string, big_array, big_object]:
            with self.subTest(raw=raw[:40]):
                client.send_raw(raw)
                replies = client.sync()
                self.assert_only_parse_errors(replies, raw[:40])
                self.assertEqual(bystander.sync(), [])
        # Large but within vnetd's documented 1 MiB message limit: answered.
        big_id = "b" * (512 << 10)
        reply = client.execute("query-version", id=big_id)
        self.assert_ok(reply)
        self.assertEqual(reply["id"], big_id)

    def test_control_character_resets_an_unfinished_message(self):
        # QMP spec ("Forcing the JSON parser into known-good state"): after
        # incomplete input, a client provokes a lexical error with an ASCII
        # control character other than \t, \r, \n, and the parser is back in
        # a known-good state. QEMU 7.2 answers one error and then the next
        # request.
        cases = [(b'{"execute": "query-version"', b"\x01"),
                 (b'{"execute": "netdev_add", "arguments": {"type": "hubport"', b"\x1b"),
                 (b'{"execute": "query-version", "id": [[', b"\x00"),
                 (b"[" * 2000, b"\x01")]
        # All cases at once, each on its own connection, so a parser that never
        # recovers costs one timeout in all.
        pending = []
        for unfinished, control in cases:
            client = self.connect()
            client.send_raw(unfinished)
            pending.append((client, unfinished, control))
        time.sleep(0.05)
        for client, _, control in pending:
            client.send_raw(control)
            client.tag = client.send_sync()
        deadline = time.monotonic() + SHORT_TIMEOUT
        for client, unfinished, control in pending:
            with self.subTest(unfinished=unfinished[:40], control=control):
                try:
                    replies = client.read_until(client.tag, max(deadline - time.monotonic(), 0.1))
                except NoReply as e:
                    self.fail(f"after {unfinished[:40]!r} and {control!r} the next request got no answer: {e}")
                self.assert_only_parse_errors(replies, unfinished[:40] + control)

    def test_disconnect_mid_message_does_not_disturb_others(self):
        watcher = self.connect()
        writer = self.connect()
        add = b'{"execute": "netdev_add", "arguments": {"type": "hubport", "id": "kept", "hubid": 1}, "id": "w"}'
        writer.send_raw(add[:30])
        for partial in [b'{"execute": "netdev_add", "arguments": {"type": "hubport", "id": "lost", "hub',
                        b'{"execute": "query-version", "id": "unterminated string',
                        b"[[[[[[[[",
                        b'{"execute": "qmp_capabilities"}{"execute": "netdev_add", "argu']:
            with self.subTest(partial=partial):
                quitter = QmpClient(self.daemon.socket_path, negotiate=False)
                quitter.send_raw(partial)
                quitter.close()
                self.assertEqual(watcher.sync(), [])
        # Gone before even reading the greeting.
        early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        early.connect(self.daemon.socket_path)
        early.sendall(b'{"execute": "qmp_cap')
        early.close()
        writer.send_raw(add[30:])
        self.assertEqual(writer.read_reply(), {"return": {}, "id": "w"})
        self.assertEqual([n["id"] for n in watcher.cmd("query-netdevs")], ["kept"])

    def test_half_closed_client_still_gets_its_replies(self):
        # A one-shot client (socat, nc -U) writes its requests and shuts down
        # its sending side; QEMU 7.2 still answers every request it read.
        for attempt in range(5):
            with self.subTest(attempt=attempt):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(self.daemon.socket_path)
                sock.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "query-version", "id": 7}\n')
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(SHORT_TIMEOUT)
                received = b""
                try:
                    while b'"id": 7' not in received:
                        data = sock.recv(65536)
                        if not data:
                            break
                        received += data
                except TimeoutError:
                    pass
                sock.close()
                lines = received.splitlines()
                self.assertEqual(len(lines), 3, f"a half-closed client received only {received!r}")
                self.assertIn(b'"return": {}', lines[1])
                self.assertIn(b'"id": 7', lines[2])


if __name__ == "__main__":
    main()
