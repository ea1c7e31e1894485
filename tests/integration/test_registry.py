#!/usr/bin/env python3
"""The netdev registry through QMP: hubports, peering, refusals, link state,
query-netdevs, and what the daemon says about its own commands."""
from vnetd_harness import SCHEMA_DIR, SEED_SCHEMA, UNBUILT_NETDEVS, VnetdTestCase, main, schema_names

NETDEV_KEYS = {"id", "type", "link-up", "peer", "hubid", "details"}
# Named by the contract besides the seed schema's commands.
CONTRACT_COMMANDS = ["qmp_capabilities", "getfd", "closefd", "query-commands", "query-version",
                     "query-qmp-schema", "query-netdevs", "netdev-get-fds", "set-rx-filter"]
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.json"))


def hubport(id, hubid=0, **more):
    return dict(type="hubport", id=id, hubid=hubid, **more)


class RegistryTest(VnetdTestCase):

    def setUp(self):
        super().setUp()
        self.client = self.connect()

    def netdevs(self):
        netdevs = self.client.cmd("query-netdevs")
        for netdev in netdevs:
            self.assertLessEqual(set(netdev), NETDEV_KEYS, f"unexpected members: {netdev}")
            self.assertLessEqual({"id", "type", "link-up"}, set(netdev), f"missing members: {netdev}")
            self.assertIs(type(netdev["link-up"]), bool)
        return {n["id"]: n for n in netdevs}

    def ids(self):
        return [n["id"] for n in self.client.cmd("query-netdevs")]

    def add(self, **arguments):
        return self.client.execute("netdev_add", arguments)

    def test_hubports_add_query_delete(self):
        for id, hubid in [("h0", 0), ("h1", 0), ("h2", 5)]:
            self.assertEqual(self.add(**hubport(id, hubid)), {"return": {}})
        netdevs = self.netdevs()
        self.assertEqual(list(netdevs), ["h0", "h1", "h2"], "query-netdevs is not in creation order")
        for id, hubid in [("h0", 0), ("h1", 0), ("h2", 5)]:
            netdev = netdevs[id]
            self.assertEqual((netdev["type"], netdev["hubid"], netdev["link-up"]), ("hubport", hubid, True), netdev)
            self.assertNotIn("peer", netdev)
        # A hub's ports are listed once, by query-hubs, not in each port's
        # details (which would make query-netdevs quadratic in a hub's size).
        self.assertNotIn("hub-ports", netdevs["h0"]["details"])
        # No port has a kernel device (a NIC's own tap): vnetd forwards.
        userspace = {"forwarding": "userspace", "userspace-reason": "no port has a kernel device"}
        self.assertEqual(self.client.cmd("query-hubs"), [{"hubid": 0, "ports": ["h0", "h1"], **userspace},
                                                         {"hubid": 5, "ports": ["h2"], **userspace}])
        self.assertEqual(self.client.sync(), [])
        added = self.client.take_events("VNET_NETDEV_ADDED")
        self.assertEqual([e["data"] for e in added],
                         [{"id": i, "type": "hubport"} for i in ("h0", "h1", "h2")])
        for event in added:
            self.assert_event_shape(event, "VNET_NETDEV_ADDED", event["data"])

        self.assertEqual(self.client.execute("netdev_del", {"id": "h1"}), {"return": {}})
        self.assertEqual(self.client.sync(), [])
        deleted = self.client.take_events()
        self.assertEqual(len(deleted), 1, deleted)
        self.assert_event_shape(deleted[0], "VNET_NETDEV_DELETED", {"id": "h1"})
        netdevs = self.netdevs()
        self.assertEqual(list(netdevs), ["h0", "h2"])
        self.assertEqual(self.client.cmd("query-hubs"), [{"hubid": 0, "ports": ["h0"], **userspace},
                                                         {"hubid": 5, "ports": ["h2"], **userspace}])
        for id in ("h0", "h2"):
            self.client.cmd("netdev_del", id=id)
        self.assertEqual(self.ids(), [])
        self.assertEqual(self.client.cmd("query-hubs"), [], "a hub exists while it has ports")
        # A deleted id is free again.
        self.assertEqual(self.add(**hubport("h1", 7)), {"return": {}})
        self.assertEqual(self.netdevs()["h1"]["hubid"], 7)

    def test_query_netdevs_of_one_id(self):
        for id, hub in (("h0", 0), ("h1", 0), ("h2", 4)):
            self.client.cmd("netdev_add", **hubport(id, hub))
        everything = self.client.cmd("query-netdevs")
        for entry in everything:
            self.assertEqual(self.client.cmd("query-netdevs", id=entry["id"]), [entry],
                             "one netdev is listed as the full listing lists it")
        self.assert_error(self.client.execute("query-netdevs", {"id": "nope"}), "DeviceNotFound",
                          "Device 'nope' not found")
        self.assert_error(self.client.execute("query-netdevs", {"id": 7}), "GenericError")
        self.assertEqual(self.client.cmd("query-netdevs"), everything)

    def test_peering(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        self.client.cmd("netdev_add", **hubport("h1", 1, netdev="h0"))
        netdevs = self.netdevs()
        self.assertEqual(netdevs["h0"].get("peer"), "h1", netdevs)
        self.assertEqual(netdevs["h1"].get("peer"), "h0", netdevs)
        before = self.client.cmd("query-netdevs")
        self.client.take_events()

        # A netdev has one peer: naming either side again is refused.
        for id, peer in [("h2", "h0"), ("h3", "h1")]:
            with self.subTest(peer=peer):
                self.assert_error(self.add(**hubport(id, 2, netdev=peer)), "GenericError")
        with self.subTest(peer="nosuch"):
            self.assert_error(self.add(**hubport("h4", 2, netdev="nosuch")), "GenericError",
                              "netdev 'nosuch' not found")
        with self.subTest(peer="itself"):
            self.assert_error(self.add(**hubport("h5", 2, netdev="h5")), "GenericError")
        self.assertEqual(self.client.cmd("query-netdevs"), before, "a refused netdev_add changed the registry")
        self.assertEqual(self.client.sync(), [])
        self.assertEqual(self.client.take_events(), [], "a refused netdev_add raised an event")

        # Deleting one side clears the other's peer, which can then peer again.
        self.client.cmd("netdev_del", id="h0")
        self.assertNotIn("peer", self.netdevs()["h1"])
        self.client.cmd("netdev_add", **hubport("h6", 3, netdev="h1"))
        netdevs = self.netdevs()
        self.assertEqual((netdevs["h1"].get("peer"), netdevs["h6"].get("peer")), ("h6", "h1"), netdevs)
        self.client.cmd("netdev_del", id="h6")
        self.assertNotIn("peer", self.netdevs()["h1"])
        self.client.cmd("netdev_del", id="h1")
        self.assertEqual(self.ids(), [])
        self.assertEqual(self.client.cmd("query-hubs"), [], "a hub exists while it has ports")

    def test_id_rules(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        for bad in ["", "0abc", "-a", "_a", ".a", "a b", "a/b", "a,b", "é", "a\u00e9"]:
            with self.subTest(id=bad):
                self.assert_error(self.add(**hubport(bad)), "GenericError", "Parameter 'id' expects an identifier")
        self.assert_error(self.add(**hubport("h0", 1)), "GenericError", "Duplicate ID 'h0'")
        self.assert_error(self.add(type="user", id="h0"), "GenericError")
        for good in ["a", "Z", "a-b.c_9", "x" * 200]:
            with self.subTest(id=good):
                self.assertEqual(self.add(**hubport(good)), {"return": {}})
        self.assertEqual(self.ids(), ["h0", "a", "Z", "a-b.c_9", "x" * 200])
        self.assertEqual(self.netdevs()["h0"]["hubid"], 0)

    def test_unknown_ids(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        for command, arguments in [("netdev_del", {"id": "nosuch"}),
                                   ("set_link", {"name": "nosuch", "up": False}),
                                   ("set_link", {"name": "nosuch", "up": True})]:
            with self.subTest(command=command, arguments=arguments):
                self.assert_error(self.client.execute(command, arguments), "DeviceNotFound",
                                  "Device 'nosuch' not found")
        self.assert_error(self.client.execute("netdev-get-fds", {"id": "nosuch"}), "DeviceNotFound")
        self.client.cmd("netdev_del", id="h0")
        self.assert_error(self.client.execute("netdev_del", {"id": "h0"}), "DeviceNotFound", "Device 'h0' not found")
        self.assert_error(self.client.execute("set_link", {"name": "h0", "up": True}), "DeviceNotFound",
                          "Device 'h0' not found")
        self.assertEqual(self.ids(), [])
        self.assertEqual(self.client.cmd("query-hubs"), [], "a hub exists while it has ports")

    def test_failed_adds_leave_nothing_behind(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        before = self.client.cmd("query-netdevs")
        fds_before = self.daemon.fd_count()
        self.assertEqual(self.client.sync(), [])
        self.client.take_events()
        for type, options in UNBUILT_NETDEVS.items():
            with self.subTest(type=type):
                self.assert_error(self.add(type=type, id="x0", **options), "GenericError",
                                  f"netdev type '{type}' is not implemented in this vnetd yet")
                self.assertEqual(self.client.cmd("query-netdevs"), before)
        others = [({"type": "hubport", "id": "x0"}, "a hubport without hubid"),
                  ({"type": "hubport", "id": "x0", "hubid": "zero"}, "a hubid that is not a number"),
                  ({"type": "hubport", "id": "x0", "hubid": 0, "bogus": 1}, "an unknown member"),
                  ({"type": "hubport", "id": "x0", "hubid": 0, "netdev": "nosuch"}, "a peer that does not exist"),
                  ({"type": "nosuchtype", "id": "x0"}, "an unknown type"),
                  ({"type": "none", "id": "x0"}, "type none"),
                  ({"type": "tap", "id": "x0", "fd": "nosuchfd"}, "a tap on an fd name never given"),
                  ({"type": "vhost-vdpa", "id": "x0"}, "a vhost-vdpa netdev without vhostdev"),
                  ({"type": "vhost-vdpa", "id": "x0", "vhostdev": "/dev/null"}, "a vhost-vdpa netdev on /dev/null")]
        for arguments, what in others:
            with self.subTest(what=what):
                self.assert_error(self.client.execute("netdev_add", arguments), "GenericError")
                self.assertEqual(self.client.cmd("query-netdevs"), before)
        self.assertEqual(self.client.sync(), [])
        self.assertEqual(self.client.take_events(), [], "a failed netdev_add raised an event")
        self.assertEqual(self.daemon.wait_fd_count(fds_before), fds_before, "a failed netdev_add left fds open")
        # The id of every failed add is still free.
        self.assertEqual(self.add(**hubport("x0")), {"return": {}})
        self.assertEqual(self.ids(), ["h0", "x0"])

    def test_set_link(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        self.client.cmd("netdev_add", **hubport("h1", 1, netdev="h0"))
        self.assertEqual(self.client.sync(), [])
        self.client.take_events()

        def link_events_after(up):
            self.assertEqual(self.client.execute("set_link", {"name": "h0", "up": up}), {"return": {}})
            self.assertEqual(self.client.sync(), [])
            return self.client.take_events()

        events = link_events_after(False)
        self.assertEqual(len(events), 1, events)
        self.assert_event_shape(events[0], "VNET_LINK_CHANGED", {"name": "h0", "up": False})
        netdevs = self.netdevs()
        self.assertIs(netdevs["h0"]["link-up"], False)
        # A hubport peer keeps its own link state, as in QEMU.
        self.assertIs(netdevs["h1"]["link-up"], True)

        self.assertEqual(link_events_after(False), [], "set_link to the same state raised an event")
        self.assertIs(self.netdevs()["h0"]["link-up"], False)
        events = link_events_after(True)
        self.assertEqual(len(events), 1, events)
        self.assert_event_shape(events[0], "VNET_LINK_CHANGED", {"name": "h0", "up": True})
        self.assertIs(self.netdevs()["h0"]["link-up"], True)
        self.assertEqual(link_events_after(True), [])

        self.assert_error(self.client.execute("set_link", {"name": "h0", "up": "no"}), "GenericError")
        self.assert_error(self.client.execute("set_link", {"name": "h0"}), "GenericError")
        self.assertIs(self.netdevs()["h0"]["link-up"], True)

    def test_netdev_get_fds_of_hubport(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        self.assertEqual(self.client.execute("netdev-get-fds", {"id": "h0"}), {"return": {"fds": []}})
        self.assertEqual(self.client.received_fds, [])

    def test_nic_commands_without_nics(self):
        self.client.cmd("netdev_add", **hubport("h0"))
        self.assertEqual(self.client.cmd("query-rx-filter"), [])
        self.assert_error(self.client.execute("query-rx-filter", {"name": "h0"}), "GenericError",
                          "net client(h0) isn't a NIC")
        self.assert_error(self.client.execute("query-rx-filter", {"name": "nosuch"}), "GenericError",
                          "invalid net client name: nosuch")
        self.assertEqual(self.client.cmd("announce-self", initial=50, max=550, rounds=5, step=50), {})
        rx_filter = {"promiscuous": False, "multicast": "normal", "unicast": "normal", "vlan": "normal",
                     "broadcast-allowed": True, "multicast-overflow": False, "unicast-overflow": False,
                     "main-mac": "52:54:00:12:34:56", "vlan-table": [], "unicast-table": [],
                     "multicast-table": []}
        self.assert_error(self.client.execute("set-rx-filter", dict(name="nosuch", **rx_filter)), "DeviceNotFound")
        self.assert_error(self.client.execute("set-rx-filter", dict(name="h0", **rx_filter)), "GenericError")

    def test_query_commands_lists_every_command(self):
        listed = [c["name"] for c in self.client.cmd("query-commands")]
        self.assertEqual(len(listed), len(set(listed)), f"query-commands repeats names: {listed}")
        seed = schema_names([SEED_SCHEMA], "command")
        self.assertTrue(seed, "no commands found in the seed schema")
        for name in seed + CONTRACT_COMMANDS + schema_names(SCHEMA_FILES, "command"):
            with self.subTest(command=name):
                self.assertIn(name, listed)

    def test_query_qmp_schema_is_qemus_format_and_complete(self):
        schema = self.client.cmd("query-qmp-schema")
        self.assertIsInstance(schema, list)
        by_name = {}
        for info in schema:
            self.assertIsInstance(info, dict)
            self.assertIsInstance(info.get("name"), str, info)
            self.assertNotIn(info["name"], by_name, f"{info['name']} is listed twice")
            by_name[info["name"]] = info
        self.check_schema_info(by_name)

        for kind in ("command", "event"):
            for name in schema_names(SCHEMA_FILES, kind):
                with self.subTest(**{kind: name}):
                    self.assertIn(name, by_name)
                    self.assertEqual(by_name[name]["meta-type"], kind)
        commands = {c["name"] for c in self.client.cmd("query-commands")}
        self.assertEqual({n for n, i in by_name.items() if i["meta-type"] == "command"}, commands,
                         "query-qmp-schema and query-commands disagree")

    def check_schema_info(self, by_name):
        """Every SchemaInfo has its meta-type's members (QEMU's
        qapi/introspect.json) and every type it names is in the list."""
        required = {"command": {"arg-type", "ret-type"}, "event": {"arg-type"}, "object": {"members"},
                    "enum": {"members"}, "array": {"element-type"}, "builtin": {"json-type"},
                    "alternate": {"members"}}
        optional = {"command": {"allow-oob", "features"}, "event": {"features"},
                    "object": {"tag", "variants", "features"}, "enum": {"values", "features"},
                    "array": set(), "builtin": set(), "alternate": {"features"}}
        json_types = {"string", "number", "int", "boolean", "null", "object", "array", "value"}

        def check_type(name, where):
            self.assertIn(name, by_name, f"{where} names type {name!r}, which is not in the schema")

        for name, info in by_name.items():
            with self.subTest(schema_entry=name):
                meta = info.get("meta-type")
                self.assertIn(meta, required, info)
                keys = set(info) - {"name", "meta-type"}
                self.assertLessEqual(required[meta], keys, info)
                self.assertLessEqual(keys, required[meta] | optional[meta], info)
                if meta in ("command", "event"):
                    check_type(info["arg-type"], name)
                    self.assertEqual(by_name[info["arg-type"]]["meta-type"], "object", info)
                if meta == "command":
                    check_type(info["ret-type"], name)
                elif meta == "object":
                    for member in info["members"]:
                        self.assertLessEqual({"name", "type"}, set(member), info)
                        self.assertLessEqual(set(member), {"name", "type", "default", "features"}, info)
                        if "default" in member:
                            self.assertIsNone(member["default"], info)
                        check_type(member["type"], name)
                    if "variants" in info or "tag" in info:
                        members = {m["name"]: m["type"] for m in info["members"]}
                        self.assertIn(info["tag"], members, info)
                        tag_type = by_name[members[info["tag"]]]
                        self.assertEqual(tag_type["meta-type"], "enum", info)
                        cases = tag_type.get("values") or [m["name"] for m in tag_type["members"]]
                        for variant in info["variants"]:
                            self.assertEqual(set(variant), {"case", "type"}, info)
                            self.assertIn(variant["case"], cases, info)
                            check_type(variant["type"], name)
                            self.assertEqual(by_name[variant["type"]]["meta-type"], "object", info)
                elif meta == "enum":
                    names = [m["name"] for m in info["members"]]
                    self.assertEqual(len(names), len(set(names)), info)
                    if "values" in info:
                        self.assertEqual(info["values"], names, info)
                elif meta == "array":
                    check_type(info["element-type"], name)
                    self.assertEqual(name, "[" + info["element-type"] + "]", info)
                elif meta == "builtin":
                    self.assertIn(info["json-type"], json_types, info)
                elif meta == "alternate":
                    for member in info["members"]:
                        check_type(member["type"], name)


if __name__ == "__main__":
    main()
