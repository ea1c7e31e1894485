#!/usr/bin/env python3
"""scale - what a request costs as vnetd holds more netdevs, against QEMU 7.2
doing the same hubport work in the same run (the Scale issue; bench/README.md).

Workload (defaults): 10,000 hubports over 100 hubs ({"type":"hubport",
"id":"hN","hubid":N%100}) and, for vnetd only, 1,000 taps ({"type":"tap",
"id":"tN","ifname":"scN"}, one after every 10th hubport); QEMU runs
unprivileged-equivalent here with no tap helper, so its taps are left out.
Each side adds everything one at a time (send, wait for the reply), is
queried, deletes everything one at a time; then the same again pipelined
(up to WINDOW requests in flight). vnetd and QEMU each run in a network
namespace of their own; vnetd's state dir is on tmpfs, on disk, or both.

Reported: p50/p99 per bucket of 1,000 hubport requests (adds and deletes), tap
latencies, query-netdevs at full size (QEMU: `info network`, its nearest),
vnetd's VmRSS at full size and per hubport, state-dir bytes written per
request (/proc/PID/io wchar, method below), pipelined throughput, and targets
as MET/MISSED. Timings never fail the run; wrong work does (an error reply, a
count that is off, something left at the end): exit status 1.

Bytes written: wchar counts every byte vnetd passes to write()/writev() and
friends, on any fd; so wchar delta - (socket share x QMP bytes this client
read, replies and events) - (bytes vnetd wrote to its log) is what went to the
state dir. The socket share is calibrated at the start with requests that
change nothing (query-version): 0 when replies leave by sendmsg(), which
wchar does not count, 1 when they leave by write().

Run as root:  scale.py [--vnetd PATH] [--state-fs tmpfs|disk|both] [--quick]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from vnetd_harness import Vnetd, _die_with_parent  # noqa: E402

WINDOW = 256             # requests in flight when pipelining
REPLY_TIMEOUT = 60.0     # one reply (the old vnetd takes ~0.2 s per add at 10,000)
SETTLE = 10.0            # background tap deletion, seconds
CALIBRATION = 200        # query-version requests that calibrate the wchar method
ONE_QUERY_TIMES = 500    # query-netdevs {id} requests timed with one netdev and with all


class WrongWork(Exception):
    """A side did not do what it was asked: fails the run."""


class Qmp:
    """A lean QMP client: one JSON per line; counts the bytes it reads."""

    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise WrongWork(f"cannot connect to {path}")
                time.sleep(0.05)
        self.sock.settimeout(REPLY_TIMEOUT)
        self.file = self.sock.makefile("rb")
        self.bytes_read = 0
        greeting = self.message()
        if "QMP" not in greeting:
            raise WrongWork(f"{path}: not a QMP greeting: {greeting}")
        if self.call("qmp_capabilities") != {"return": {}}:
            raise WrongWork(f"{path}: qmp_capabilities refused")

    def message(self):
        try:
            line = self.file.readline()
        except socket.timeout:
            raise WrongWork(f"no reply within {REPLY_TIMEOUT}s") from None
        if not line:
            raise WrongWork("the connection closed")
        self.bytes_read += len(line)
        return json.loads(line)

    def reply(self):
        while True:
            message = self.message()
            if "return" in message or "error" in message:
                return message

    def send(self, requests):
        self.sock.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))

    def timed_call(self, command, arguments=None):
        """(seconds from the send to the reply's last byte, the reply): the
        time to decode the reply here is left out."""
        request = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        t0 = time.perf_counter()
        self.send([request])
        while True:
            try:
                line = self.file.readline()
            except socket.timeout:
                raise WrongWork(f"no reply within {REPLY_TIMEOUT}s") from None
            elapsed = time.perf_counter() - t0
            if not line:
                raise WrongWork("the connection closed")
            self.bytes_read += len(line)
            message = json.loads(line)
            if "return" in message or "error" in message:
                return elapsed, message

    def call(self, command, arguments=None):
        request = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        self.send([request])
        return self.reply()

    def close(self):
        self.file.close()
        self.sock.close()


def fs_type(path):
    return (subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", path], capture_output=True,
                          text=True).stdout.split() or ["?"])[-1]


def proc_io(pid):
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise WrongWork(f"no VmRSS for pid {pid}")


def pct(samples, p):
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def workload(hubports, hubs, taps):
    """[(kind, hubport index, netdev_add arguments)] in add order."""
    ops, every, made = [], (hubports // taps if taps else 0), 0
    for n in range(hubports):
        ops.append(("hubport", n, {"type": "hubport", "id": f"h{n}", "hubid": n % hubs}))
        if taps and (n + 1) % every == 0 and made < taps:
            ops.append(("tap", n, {"type": "tap", "id": f"t{made}", "ifname": f"sc{made}"}))
            made += 1
    return ops


class Side:
    """One peer (vnetd or QEMU): its process, client and what it measured."""

    def __init__(self, name, client, pid, has_taps):
        self.name, self.client, self.pid, self.has_taps = name, client, pid, has_taps
        self.results = {}

    def ops(self, all_ops):
        return [op for op in all_ops if self.has_taps or op[0] != "tap"]

    def one_at_a_time(self, ops, command, budget, bucket):
        """Latencies by kind and bucket; stops (reported) when over budget."""
        lat = {}
        done = 0
        started = time.monotonic()
        for kind, index, args in ops:
            if time.monotonic() - started > budget:
                break
            request = {"execute": command, "arguments": args if command == "netdev_add" else {"id": args["id"]}}
            t0 = time.perf_counter()
            self.client.send([request])
            reply = self.client.reply()
            elapsed = time.perf_counter() - t0
            if reply != {"return": {}}:
                raise WrongWork(f"{self.name}: {json.dumps(request)} answered {reply}")
            lat.setdefault((kind, index // bucket), []).append(elapsed)
            done += 1
        return lat, done, time.monotonic() - started

    def pipelined(self, ops, command, budget):
        """(requests answered, seconds); up to WINDOW in flight."""
        sent = answered = 0
        started = time.monotonic()
        while answered < sent or (sent < len(ops) and time.monotonic() - started <= budget):
            if sent < len(ops) and sent - answered <= WINDOW // 2 and time.monotonic() - started <= budget:
                batch = ops[sent:sent + WINDOW - (sent - answered)]
                self.client.send([{"execute": command,
                                   "arguments": a if command == "netdev_add" else {"id": a["id"]}}
                                  for _, _, a in batch])
                sent += len(batch)
            reply = self.client.reply()
            if reply != {"return": {}}:
                raise WrongWork(f"{self.name}: pipelined {command} #{answered} answered {reply}")
            answered += 1
        return answered, time.monotonic() - started


def listed_count(side, expected_hubports, expected_taps):
    """Times the full-size query and checks its counts."""
    read_before = side.client.bytes_read
    if side.name == "vnetd":
        elapsed, reply = side.client.timed_call("query-netdevs")
        if "return" not in reply:
            raise WrongWork(f"vnetd: query-netdevs answered {reply}")
        kinds = [n["type"] for n in reply["return"]]
        got = (kinds.count("hubport"), kinds.count("tap"), len(kinds))
        want = (expected_hubports, expected_taps, expected_hubports + expected_taps)
    else:
        elapsed, reply = side.client.timed_call("human-monitor-command", {"command-line": "info network"})
        if "return" not in reply:
            raise WrongWork(f"QEMU: info network answered {reply}")
        ports = sum(1 for line in reply["return"].splitlines() if line.startswith(" \\ "))
        got, want = (ports,), (expected_hubports,)
    if got != want:
        raise WrongWork(f"{side.name}: the query lists {got} (hubports, taps, all), expected {want}")
    side.results["query_bytes"] = side.client.bytes_read - read_before
    return elapsed


def expect_done(side, command, arguments):
    if (reply := side.client.call(command, arguments)) != {"return": {}}:
        raise WrongWork(f"{side.name}: {command} {json.dumps(arguments)} answered {reply}")


def one_netdev_query(side, netdev_id, times=ONE_QUERY_TIMES):
    """p50 and p99 seconds of query-netdevs {"id"} (what `vnetctl netdev show ID` sends)."""
    samples = []
    for _ in range(times):
        elapsed, reply = side.client.timed_call("query-netdevs", {"id": netdev_id})
        if "return" not in reply or [n["id"] for n in reply["return"]] != [netdev_id]:
            raise WrongWork(f"vnetd: query-netdevs {{id: {netdev_id}}} answered {json.dumps(reply)[:300]}")
        samples.append(elapsed)
    return pct(samples, 50), pct(samples, 99)


def query_hubs(side, hubports):
    """vnetd's query-hubs, when this build has it: (seconds, ok) or None."""
    elapsed, reply = side.client.timed_call("query-hubs")
    if "error" in reply and reply["error"].get("class") == "CommandNotFound":
        return None
    if "return" not in reply:
        raise WrongWork(f"vnetd: query-hubs answered {reply}")
    ports = sum(len(h["ports"]) for h in reply["return"])
    if ports != hubports:
        raise WrongWork(f"vnetd: query-hubs lists {ports} ports, expected {hubports}")
    return elapsed


def taps_in_netns(pid, prefix="sc"):
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link", "show"],
                         capture_output=True, text=True).stdout
    return sorted(l["ifname"] for l in json.loads(out or "[]") if l["ifname"].startswith(prefix))


def check_empty(side):
    if side.name == "vnetd":
        reply = side.client.call("query-netdevs")
        if reply != {"return": []}:
            raise WrongWork(f"vnetd: after the deletes query-netdevs lists {len(reply.get('return', []))}: "
                            f"{json.dumps(reply)[:300]}")
        deadline = time.monotonic() + SETTLE
        while taps_in_netns(side.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = taps_in_netns(side.pid)
        if left:
            raise WrongWork(f"vnetd: {len(left)} sc* taps left {SETTLE}s after their netdev_del: {left[:10]}")
    else:
        text = side.client.call("human-monitor-command", {"command-line": "info network"}).get("return", "")
        if " \\ " in text:
            raise WrongWork(f"QEMU: hubports left after the deletes: {text[:300]}")


def run_fs(args, fs_kind, qemu_binary):
    base = "/dev/shm" if fs_kind == "tmpfs" else "/var/tmp"
    work = tempfile.mkdtemp(prefix="vnt-scale-", dir=base)
    fstype = fs_type(work)
    if (fs_kind == "tmpfs") != (fstype == "tmpfs"):
        shutil.rmtree(work, ignore_errors=True)
        raise WrongWork(f"{work} is on {fstype}, not what --state-fs {fs_kind} asks for")
    os.environ["VNETD"] = args.vnetd
    daemon = Vnetd(os.path.join(work, "vnetd"),
                   extra_args=["--state-sync", args.state_sync] if args.state_sync else [])
    os.mkdir(daemon.workdir)
    qemu_sock = os.path.join(work, "qemu.sock")
    qemu_log = open(os.path.join(work, "qemu.log"), "wb")
    qemu = None
    sides = []
    try:
        daemon.start()
        qemu = subprocess.Popen(["unshare", "--net", "--", qemu_binary, "-M", "none", "-nodefaults", "-display",
                                 "none", "-qmp", f"unix:{qemu_sock},server=on,wait=off"],
                                stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=qemu_log,
                                preexec_fn=_die_with_parent)
        vnetd = Side("vnetd", Qmp(daemon.socket_path), daemon.pid, True)
        peer = Side("QEMU", Qmp(qemu_sock), qemu.pid, False)
        sides = [vnetd, peer]
        print(f"\n=== state dir on {fs_kind} ({daemon.state_dir}, {fstype}) ===", flush=True)

        # Calibration: how much of a reply wchar sees.
        io0, read0 = proc_io(daemon.pid), vnetd.client.bytes_read
        for _ in range(CALIBRATION):
            vnetd.client.call("query-version")
        socket_share = (proc_io(daemon.pid)["wchar"] - io0["wchar"]) / (vnetd.client.bytes_read - read0)
        print(f"wchar calibration: {socket_share:.2f} of each reply byte counted in wchar", flush=True)

        all_ops = workload(args.hubports, args.hubs, args.taps)
        results = {"fs": fs_kind, "fstype": fstype, "socket_share": socket_share}
        rss_start = {s.name: rss_kib(s.pid) for s in sides}
        for side in sides:
            ops = side.ops(all_ops)
            r = side.results
            # One at a time: adds, the full-size query, deletes.
            before = (proc_io(daemon.pid), vnetd.client.bytes_read, os.path.getsize(daemon.log_path))
            r["add"], r["added"], r["add_s"] = side.one_at_a_time(ops, "netdev_add", args.phase_budget, args.bucket)
            if side.name == "vnetd":
                r["add_bytes"] = state_bytes(daemon, vnetd, before, r["added"], socket_share)
            hub_added = sum(1 for k, _, _ in ops[:r["added"]] if k == "hubport")
            tap_added = r["added"] - hub_added
            r["hubports_full"], r["taps_full"] = hub_added, tap_added
            r["rss_full"] = rss_kib(side.pid)
            r["rss_per_hubport"] = (r["rss_full"] - rss_start[side.name]) * 1024 / max(hub_added, 1)
            r["query_s"] = listed_count(side, hub_added, tap_added)
            if side.name == "vnetd":
                r["query_hubs_s"] = query_hubs(side, hub_added)
                r["one_query_full"] = one_netdev_query(side, ops[0][2]["id"])
            before = (proc_io(daemon.pid), vnetd.client.bytes_read, os.path.getsize(daemon.log_path))
            r["del"], r["deleted"], r["del_s"] = side.one_at_a_time(ops[:r["added"]], "netdev_del",
                                                                   max(args.phase_budget, 4 * r["add_s"]),
                                                                   args.bucket)
            if r["deleted"] != r["added"]:
                raise WrongWork(f"{side.name}: deleted {r['deleted']} of {r['added']} within the budget")
            if side.name == "vnetd":
                r["del_bytes"] = state_bytes(daemon, vnetd, before, r["deleted"], socket_share)
            check_empty(side)
            if side.name == "vnetd":
                # The same one-netdev query with one netdev in all.
                first = ops[0][2]
                expect_done(side, "netdev_add", first)
                r["one_query_alone"] = one_netdev_query(side, first["id"])
                expect_done(side, "netdev_del", {"id": first["id"]})
            print(f"{side.name}: one at a time: {r['added']} added in {r['add_s']:.1f}s, deleted in "
                  f"{r['del_s']:.1f}s", flush=True)
            # Pipelined: the same work.
            before = (proc_io(daemon.pid), vnetd.client.bytes_read, os.path.getsize(daemon.log_path))
            r["padd"], r["padd_s"] = side.pipelined(ops, "netdev_add", args.phase_budget)
            if side.name == "vnetd":
                r["padd_bytes"] = state_bytes(daemon, vnetd, before, r["padd"], socket_share)
            listed_count(side, *hub_tap_counts(ops[:r["padd"]]))
            before = (proc_io(daemon.pid), vnetd.client.bytes_read, os.path.getsize(daemon.log_path))
            r["pdel"], r["pdel_s"] = side.pipelined(ops[:r["padd"]], "netdev_del", max(args.phase_budget,
                                                                                         4 * r["padd_s"]))
            if side.name == "vnetd":
                r["pdel_bytes"] = state_bytes(daemon, vnetd, before, r["pdel"], socket_share)
            if r["pdel"] != r["padd"]:
                raise WrongWork(f"{side.name}: pipelined, deleted {r['pdel']} of {r['padd']} within the budget")
            check_empty(side)
            print(f"{side.name}: pipelined: {r['padd']} added in {r['padd_s']:.2f}s, deleted in "
                  f"{r['pdel_s']:.2f}s", flush=True)
        results["sides"] = {s.name: s.results for s in sides}
        results["ops"] = {s.name: len(s.ops(all_ops)) for s in sides}
        return results
    finally:
        for side in sides:
            side.client.close()
        if daemon.proc:
            status = daemon.stop()
            daemon.kill()
            if status != 0:
                print(f"vnetd exited with {status} on SIGTERM: {daemon.log()}", file=sys.stderr)
        if qemu and qemu.poll() is None:
            qemu.send_signal(signal.SIGTERM)
            try:
                qemu.wait(10)
            except subprocess.TimeoutExpired:
                qemu.kill()
                qemu.wait()
        qemu_log.close()
        shutil.rmtree(work, ignore_errors=True)


def hub_tap_counts(ops):
    hubs = sum(1 for k, _, _ in ops if k == "hubport")
    return hubs, len(ops) - hubs


def state_bytes(daemon, vnetd, before, requests, socket_share):
    io0, read0, log0 = before
    io1 = proc_io(daemon.pid)
    replies = vnetd.client.bytes_read - read0
    log = os.path.getsize(daemon.log_path) - log0
    wchar = io1["wchar"] - io0["wchar"]
    state = max(0.0, wchar - socket_share * replies - log)
    return {"per_request": state / max(requests, 1), "wchar": wchar, "replies": replies, "log": log,
            "disk_write_bytes": io1["write_bytes"] - io0["write_bytes"]}


def ms(seconds):
    return seconds * 1000.0


def within(a, b, factor):
    return max(a, b) <= factor * min(a, b)


def cell(seconds, width):
    """A latency in ms, or '-' for a bucket with no samples (a run stopped by its budget)."""
    return f"{'-':>{width}}" if seconds != seconds else f"{ms(seconds):>{width}.3f}"


def report(results, args):
    for res in results:
        sides = res["sides"]
        v, q = sides["vnetd"], sides["QEMU"]
        print(f"\n--- {res['fs']} ({res['fstype']}): {args.hubports} hubports over {args.hubs} hubs"
              f" + {args.taps} taps (vnetd only: QEMU's taps would need privileges it has not here) ---")
        buckets = sorted({b for (k, b) in v["add"] if k == "hubport"} | {b for (k, b) in q["add"]})
        print(f"{'bucket':>13} | {'vnetd add p50':>13} {'p99':>7} | {'QEMU add p50':>12} {'p99':>7} | "
              f"{'vnetd del p50':>13} {'p99':>7} | {'QEMU del p50':>12} {'p99':>7} | {'vnetd tap add p50':>17}"
              "   (ms)")
        rows = []
        for b in buckets:
            row = [pct(v["add"].get(("hubport", b), []), 50), pct(v["add"].get(("hubport", b), []), 99),
                   pct(q["add"].get(("hubport", b), []), 50), pct(q["add"].get(("hubport", b), []), 99),
                   pct(v["del"].get(("hubport", b), []), 50), pct(v["del"].get(("hubport", b), []), 99),
                   pct(q["del"].get(("hubport", b), []), 50), pct(q["del"].get(("hubport", b), []), 99),
                   pct(v["add"].get(("tap", b), []), 50)]
            rows.append(row)
            label = f"{b * args.bucket}-{(b + 1) * args.bucket - 1}"
            widths = (13, 7, 12, 7, 13, 7, 12, 7, 17)
            cells = [cell(x, w) for x, w in zip(row, widths)]
            print(f"{label:>13} | {cells[0]} {cells[1]} | {cells[2]} {cells[3]} | {cells[4]} {cells[5]} | "
                  f"{cells[6]} {cells[7]} | {cells[8]}")
        taps_add = [x for (k, _), xs in v["add"].items() if k == "tap" for x in xs]
        taps_del = [x for (k, _), xs in v["del"].items() if k == "tap" for x in xs]
        print(f"vnetd taps: add p50 {ms(pct(taps_add, 50)):.3f} ms p99 {ms(pct(taps_add, 99)):.3f} ms; "
              f"del p50 {ms(pct(taps_del, 50)):.3f} ms p99 {ms(pct(taps_del, 99)):.3f} ms")
        for name, r in sides.items():
            full = r["added"] == res["ops"][name]
            note = "" if full else f" (STOPPED by the {args.phase_budget:.0f}s budget at {r['added']} requests)"
            print(f"{name}: one at a time, {r['added']} adds in {r['add_s']:.2f}s, deletes in {r['del_s']:.2f}s{note}")
            print(f"{name}: pipelined ({WINDOW} in flight), {r['padd']} adds in {r['padd_s']:.2f}s "
                  f"({r['padd'] / r['padd_s']:.0f}/s), deletes in {r['pdel_s']:.2f}s ({r['pdel'] / r['pdel_s']:.0f}/s)")
        print(f"query at full size ({v['hubports_full']} hubports + {v['taps_full']} taps): vnetd query-netdevs "
              f"{ms(v['query_s']):.1f} ms ({v['query_bytes']} bytes, timed to the last byte); QEMU `info network` "
              f"{ms(q['query_s']):.1f} ms ({q['query_bytes']} bytes; QEMU 7.2 has no "
              f"query-netdevs: its human monitor's listing is the nearest)")
        if v.get("query_hubs_s") is not None:
            print(f"vnetd query-hubs at full size: {ms(v['query_hubs_s']):.1f} ms")
        else:
            print("vnetd query-hubs: not in this build")
        (full50, full99), (alone50, alone99) = v["one_query_full"], v["one_query_alone"]
        print(f"vnetd query-netdevs {{id}} (`vnetctl netdev show ID`), p50 / p99 of {ONE_QUERY_TIMES}: "
              f"{ms(alone50):.3f} / {ms(alone99):.3f} ms with 1 netdev, {ms(full50):.3f} / {ms(full99):.3f} ms with "
              f"{v['hubports_full'] + v['taps_full']}")
        print(f"RSS at full size: vnetd {v['rss_full'] / 1024:.1f} MiB, {v['rss_per_hubport']:.0f} B per hubport "
              f"(RSS delta / hubports; the taps' share included); QEMU {q['rss_full'] / 1024:.1f} MiB, "
              f"{q['rss_per_hubport']:.0f} B per hubport")
        for phase, what in (("add", "add, one at a time"), ("del", "del, one at a time"),
                            ("padd", "add, pipelined"), ("pdel", "del, pipelined")):
            b = v[f"{phase}_bytes"]
            print(f"state-dir bytes written per {what} (vnetd): {b['per_request']:.0f} "
                  f"(wchar {b['wchar']} - {res['socket_share']:.2f} x {b['replies']} reply bytes - {b['log']} log "
                  f"bytes; block-layer write_bytes {b['disk_write_bytes']})")

        if args.quick:
            continue
        complete = v["added"] == res["ops"]["vnetd"]
        rows = [r for r in rows if r[0] == r[0]]  # the buckets vnetd reached
        first, last = rows[0], rows[-1]
        # The issue's target is growth with N: adds' last bucket (at full
        # size) against their first; deletes run in add order, so their FIRST
        # bucket is the one at full size. The other direction (a slow start)
        # is printed too, as information.
        targets = [
            ("vnetd hubport add p99 at full size within 1.5x of the first bucket's",
             complete and last[1] <= 1.5 * first[1],
             f"{ms(first[1]):.3f} -> {ms(last[1]):.3f} ms (within 1.5x either way: "
             f"{'yes' if within(first[1], last[1], 1.5) else 'no'})"),
            ("vnetd hubport del p99 at full size (first bucket) within 1.5x of the last bucket's",
             complete and first[5] <= 1.5 * last[5],
             f"{ms(first[5]):.3f} (full size) vs {ms(last[5]):.3f} ms (within 1.5x either way: "
             f"{'yes' if within(first[5], last[5], 1.5) else 'no'})"),
            ("vnetd hubport add p50 < 0.5 ms at every bucket",
             complete and max(r[0] for r in rows) < 0.0005, f"worst {ms(max(r[0] for r in rows)):.3f} ms"),
            ("vnetd faster than QEMU at every bucket (p50, adds and deletes)",
             complete and all(r[0] < r[2] and r[4] < r[6] for r in rows),
             f"{sum(r[0] < r[2] for r in rows)}/{len(rows)} add buckets, "
             f"{sum(r[4] < r[6] for r in rows)}/{len(rows)} del buckets"),
            ("query-netdevs of all netdevs < 100 ms", complete and v["query_s"] < 0.1, f"{ms(v['query_s']):.1f} ms"),
            ("vnetd query-netdevs {id} p50 with every netdev within 1.5x of it with one",
             complete and full50 <= 1.5 * alone50, f"{ms(alone50):.3f} -> {ms(full50):.3f} ms"),
            ("RSS < 4 KiB per hubport", complete and v["rss_per_hubport"] < 4096, f"{v['rss_per_hubport']:.0f} B"),
        ]
        for name, met, detail in targets:
            print(f"  {'MET   ' if met else 'MISSED'} {name}: {detail}{'' if complete else ' (run incomplete)'}")
    if args.quick:
        print("\n(--quick: a check that the work is done; the figures mean nothing)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vnetd", default=os.environ.get("VNETD") or str(REPO / "build" / "bin" / "vnetd"))
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--state-fs", choices=("tmpfs", "disk", "both"), default="both")
    parser.add_argument("--state-sync", choices=("background", "each-commit"),
                        help="vnetd's --state-sync (default: vnetd's own default, background)")
    parser.add_argument("--hubports", type=int)
    parser.add_argument("--hubs", type=int)
    parser.add_argument("--taps", type=int)
    parser.add_argument("--bucket", type=int, help="requests per latency bucket")
    parser.add_argument("--phase-budget", type=float, default=180.0,
                        help="seconds one side may spend adding, one at a time or pipelined (it stops there, "
                             "reports how far it got and deletes what it added)")
    parser.add_argument("--quick", action="store_true", help="600 hubports over 10 hubs, 50 taps, buckets of 100")
    args = parser.parse_args()
    quick = (600, 10, 50, 100)
    full = (10_000, 100, 1_000, 1_000)
    for name, q, f in zip(("hubports", "hubs", "taps", "bucket"), quick, full):
        if getattr(args, name) is None:
            setattr(args, name, q if args.quick else f)
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces of its own, taps)")
    if not os.access(args.vnetd, os.X_OK):
        problems.append(f"no vnetd at {args.vnetd}: build it, or pass --vnetd PATH / set VNETD")
    qemu = shutil.which(args.qemu)
    if not qemu:
        problems.append(f"QEMU not found ({args.qemu}): apt-get install qemu-system-x86")
    for tool in ("unshare", "nsenter", "findmnt", "ip"):
        if not shutil.which(tool):
            problems.append(f"{tool} not found (util-linux / iproute2)")
    if not os.path.exists("/dev/net/tun"):
        problems.append("no /dev/net/tun")
    if problems:
        for p in problems:
            print(f"scale: {p}", file=sys.stderr)
        return 1
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"vnetd {args.vnetd} (--state-sync {args.state_sync or 'default'}); {version}; kernel {os.uname().release}; {os.cpu_count()} CPUs; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    try:
        for fs_kind in (("tmpfs", "disk") if args.state_fs == "both" else (args.state_fs,)):
            results.append(run_fs(args, fs_kind, qemu))
    except WrongWork as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
