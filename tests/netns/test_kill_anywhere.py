#!/usr/bin/env python3
"""SIGKILL anywhere loses nothing that was answered and orphans nothing (the
Scale issue), in a namespace of the test's own.

50 rounds over one state dir (its bpffs mounted from outside, as in
test_restart.py, so pinned maps survive the daemon). Each round:

1. vnetd starts on the state dir and the test checks it against its model:
   - every netdev_add answered {"return": {}} before a kill is listed by
     query-netdevs (a tap with its ifname present in the namespace, a nic
     still bound to its tap);
   - every netdev_del answered before a kill is gone (its id unlisted, its tap
     device gone from the namespace within DEVICE_SETTLE seconds: vnetd
     deletes taps in the background, in batches);
   - no orphan: the tap devices named PREFIX* in the namespace are exactly the
     ifnames of the taps vnetd lists (within DEVICE_SETTLE seconds);
   - a request sent but not answered may or may not have taken effect; if it
     did, completely (the equality above covers it). The model then takes
     what is listed as the truth for those.
2. One client sends a burst of valid mixed requests (hubports, taps with an
   ifname, nics peered with those taps, deletes of earlier ids; a nic is
   deleted before its tap), in chunks sent either pipelined or one at a time.
   A reader thread records each reply as it arrives.
3. After a seeded random delay (early, middle or late in the burst) vnetd gets
   SIGKILL. Replies already in the socket when it died count as answered.

Rounds alternate vnetd's --state-sync between its two policies (background,
the default: the reply waits for the write; each-commit: for the device
flush too), over the same state dir: both must keep the rules, and a daemon
must read what one of the other policy left.

At the end SIGTERM must stop the last vnetd with status 0 and remove every
tap it made. The seed is printed (set KILL_ANYWHERE_SEED to replay a run);
each failure names the seed, the round, the request and what was found.
The binary: --vnetd PATH, else $VNETD, else build/bin/vnetd.

Root, iproute2, /dev/net/tun and a kernel with bpffs are needed; without them
the test fails saying what is missing."""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import sys
import time
import unittest

from netns_harness import NamespaceTestCase, run, vnetd_binary, watch_stderr_log  # noqa: E402
import vnetd_harness  # noqa: E402  (on the path netns_harness set)

ROUNDS = 50
PREFIX = "ka"            # the test's tap names: ka0, ka1, ...
BURST = 120              # requests planned per round (the kill may cut it short)
MAX_TAPS = 24            # bounds on the population, so a round stays short
MAX_HUBPORTS = 60
HUBS = 8
DEVICE_SETTLE = 2.0      # how long a deleted tap may take to leave the kernel
START_TIMEOUT = 10.0     # vnetd serving its socket after a start
REPLY_TIMEOUT = 5.0      # one reply, when sending one at a time
TEST_BUDGET = 150.0      # the whole test, in seconds (ctest's TIMEOUT is 180)
MAX_REPORTED = 8         # failures printed in full at the end


class Burst:
    """One connection's requests and replies while vnetd may be killed."""

    def __init__(self, sock_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(START_TIMEOUT)
        self.sock.connect(sock_path)
        self.file = self.sock.makefile("rb")
        greeting = json.loads(self.file.readline())
        if "QMP" not in greeting:
            raise AssertionError(f"not a QMP greeting: {greeting}")
        self.sock.sendall(b'{"execute":"qmp_capabilities","id":"caps"}\n')
        reply = json.loads(self.file.readline())
        if reply.get("return") != {}:
            raise AssertionError(f"qmp_capabilities answered {reply}")
        self.sock.settimeout(None)
        self.replies = {}            # request id -> reply
        self.closed = False
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            for line in self.file:
                message = json.loads(line)
                if "id" in message:
                    with self.cond:
                        self.replies[message["id"]] = message
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def send(self, requests):
        """Sends requests at once; False when the connection is gone."""
        data = b"".join(json.dumps(r).encode() + b"\n" for r in requests)
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def wait_for(self, request_id, timeout=REPLY_TIMEOUT):
        """True when the reply came; False when the connection closed first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while request_id not in self.replies and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no reply to {request_id} within {timeout}s while vnetd runs")
                self.cond.wait(left)
            return request_id in self.replies

    def finish(self, timeout=REPLY_TIMEOUT):
        """Waits for the reader to see the end of the stream (vnetd killed)."""
        self.reader.join(timeout)
        if self.reader.is_alive():
            raise AssertionError(f"the connection stayed open {timeout}s after SIGKILL")
        self.file.close()
        self.sock.close()


class KillAnywhere(NamespaceTestCase):
    bridge_acl = ""

    def setUp(self):
        missing = [what for what, ok in (("root", os.geteuid() == 0), ("/dev/net/tun", os.path.exists("/dev/net/tun")),
                                         ("ip (iproute2)", shutil.which("ip")), ("mount", shutil.which("mount")))
                   if not ok]
        if missing:
            self.fail(f"kill-anywhere needs {', '.join(missing)}: not available here")
        self.binary = vnetd_binary()
        super().setUp()
        self.state = os.path.join(self.work, "state")
        bpf = os.path.join(self.state, "bpf")
        os.makedirs(bpf)
        mounted = run("mount", "-t", "bpf", "bpf", bpf, check=False)
        if mounted.returncode != 0:
            self.fail(f"cannot mount bpffs at {bpf}: {mounted.stderr.strip()}")
        self.addCleanup(run, "umount", "-l", bpf, check=False)
        self.sock = os.path.join(self.work, "qmp.sock")
        self.log_path = os.path.join(self.work, "vnetd.log")
        watch_stderr_log(self, self.log_path)
        self.vnetd = None
        self.addCleanup(self.kill_vnetd)
        seed = os.environ.get("KILL_ANYWHERE_SEED")
        self.seed = int(seed) if seed else random.SystemRandom().randrange(1 << 32)
        print(f"kill-anywhere: seed {self.seed} (replay with KILL_ANYWHERE_SEED={self.seed}), "
              f"vnetd {self.binary}", flush=True)
        self.rng = random.Random(self.seed)

    # -- the daemon

    def launch(self, round_number=0):
        sync = "each-commit" if round_number % 2 else "background"
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start (--state-sync {sync})\n".encode())
            self.vnetd = subprocess.Popen(["ip", "netns", "exec", self.ns, self.binary, "--socket", self.sock,
                                           "--state-dir", self.state, "--bridge-acl", self.acl,
                                           "--state-sync", sync],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.vnetd.poll() is not None:
                self.fail(f"vnetd exited with status {self.vnetd.returncode} while starting "
                          f"(seed {self.seed}):\n{self.log_tail()}")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.sock)
                return
            except OSError:
                pass
            finally:
                probe.close()
            if time.monotonic() > deadline:
                self.fail(f"vnetd did not serve {self.sock} within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.01)

    def kill_vnetd(self):
        if self.vnetd and self.vnetd.poll() is None:
            self.vnetd.kill()
            self.vnetd.wait(20)

    def log_tail(self, size=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-size:]
        except OSError:
            return "(no log)"

    # -- what vnetd and the kernel say

    def query(self):
        burst = Burst(self.sock)
        try:
            if not burst.send([{"execute": "query-netdevs", "id": "q"}]) or not burst.wait_for("q"):
                self.fail(f"vnetd closed the connection on query-netdevs:\n{self.log_tail()}")
            reply = burst.replies["q"]
        finally:
            burst.sock.shutdown(socket.SHUT_RDWR)
            burst.finish()
        if "return" not in reply:
            self.fail(f"query-netdevs answered {reply}")
        return {n["id"]: n for n in reply["return"]}

    def devices(self):
        links = json.loads(run("ip", "-n", self.ns, "-j", "link", "show").stdout or "[]")
        return {l["ifname"] for l in links if l["ifname"].startswith(PREFIX)}

    # -- the test

    def test_sigkill_anywhere_loses_nothing_answered_and_orphans_nothing(self):
        started = time.monotonic()
        # The model: id -> the netdev_add arguments of what must exist.
        present = {}
        deleted = {}         # id -> arguments, for deletes answered (taps: their ifname must go)
        failures = []
        late = 0
        answered_adds = set()
        for round_number in range(1, ROUNDS + 1):
            if time.monotonic() - started > TEST_BUDGET:
                self.fail(f"ran out of the {TEST_BUDGET}s budget after round {round_number - 1} "
                          f"(seed {self.seed}); failures so far: {failures[:MAX_REPORTED]}")
            self.launch(round_number)
            unanswered = getattr(self, "_unanswered", [])
            found = self.check(round_number, present, deleted, unanswered, failures, answered_adds)
            # Those checked: the model now follows what vnetd lists.
            present = {i: found[i]["args"] for i in found}
            deleted = {}
            plan = self.plan(round_number, present)
            delay = self.kill_delay()
            answered, sent, unanswered = self.burst(round_number, plan, delay)
            late += len(answered) == len(plan)
            answered_adds = {r["arguments"]["id"] for r in answered if r["execute"] == "netdev_add"}
            for request in answered:
                args = request["arguments"]
                if request["execute"] == "netdev_add":
                    present[args["id"]] = args
                else:
                    deleted[args["id"]] = present.pop(args["id"], {"id": args["id"], "type": "?"})
            self._unanswered = unanswered
            print(f"round {round_number} ({'each-commit' if round_number % 2 else 'background'}): kill at {delay * 1000:.0f} ms; {len(answered)} of {len(plan)} answered, "
                  f"{len(unanswered)} sent unanswered, {len(plan) - sent} not sent; model {len(present)} netdevs",
                  flush=True)
            print("  answered: " + " ".join(("+" if r["execute"] == "netdev_add" else "-") + r["arguments"]["id"]
                                            for r in answered), flush=True)
            if unanswered:
                print("  unanswered: " + " ".join(("+" if r["execute"] == "netdev_add" else "-") +
                                                  r["arguments"]["id"] for r in unanswered), flush=True)

        self.launch()
        self.check(ROUNDS + 1, present, deleted, self._unanswered, failures, answered_adds)
        self.vnetd.terminate()
        try:
            status = self.vnetd.wait(20)
        except subprocess.TimeoutExpired:
            status = None
        deadline = time.monotonic() + DEVICE_SETTLE
        while self.devices() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.devices()
        print(f"kill-anywhere: {ROUNDS} rounds in {time.monotonic() - started:.1f}s, {late} killed after the "
              f"whole burst was answered; {len(failures)} failures (seed {self.seed})", flush=True)
        if failures:
            self.fail(f"{len(failures)} failures (seed {self.seed}); the first:\n" +
                      "\n".join(failures[:MAX_REPORTED]))
        self.assertEqual(status, 0, f"the last vnetd did not exit 0 on SIGTERM:\n{self.log_tail()}")
        self.assertEqual(left, set(), "SIGTERM left taps behind")

    def kill_delay(self):
        """Early (0-10 ms), mid-burst (10-60 ms) or late (60-150 ms)."""
        low, high = self.rng.choice(((0.0, 0.010), (0.010, 0.060), (0.060, 0.150)))
        return self.rng.uniform(low, high)

    def plan(self, round_number, present):
        """BURST valid requests, as if each succeeds: (request, one_at_a_time)."""
        state = dict(present)
        counter = getattr(self, "_counter", 0)
        requests = []
        while len(requests) < BURST:
            taps = [i for i, a in state.items() if a["type"] == "tap"]
            nics = {a["netdev"]: i for i, a in state.items() if a["type"] == "nic" and a.get("netdev")}
            hubports = [i for i, a in state.items() if a["type"] == "hubport"]
            choice = self.rng.random()
            counter += 1
            if choice < 0.25 and len(hubports) < MAX_HUBPORTS:
                args = {"type": "hubport", "id": f"h{counter}", "hubid": self.rng.randrange(HUBS)}
            elif choice < 0.45 and len(taps) < MAX_TAPS:
                args = {"type": "tap", "id": f"t{counter}", "ifname": f"{PREFIX}{counter}"}
            elif choice < 0.60 and any(t not in nics for t in taps):
                tap = self.rng.choice([t for t in taps if t not in nics])
                args = {"type": "nic", "id": f"n{counter}", "netdev": tap}
            elif state:
                victim = self.rng.choice(sorted(state))
                if state[victim]["type"] == "tap" and victim in nics:
                    # vnetd's order: the guest's nic goes with (before) its tap.
                    requests.append(("netdev_del", {"id": nics[victim]}))
                    del state[nics[victim]]
                requests.append(("netdev_del", {"id": victim}))
                del state[victim]
                continue
            else:
                continue
            requests.append(("netdev_add", args))
            state[args["id"]] = args
        self._counter = counter
        out = []
        for n, (command, args) in enumerate(requests[:BURST]):
            out.append({"execute": command, "arguments": args, "id": f"r{round_number}-{n}"})
        return out

    def burst(self, round_number, plan, delay):
        """Sends plan in chunks, pipelined or one at a time, and kills vnetd
        after delay. Returns (answered requests in order, how many were sent,
        requests sent but not answered)."""
        client = Burst(self.sock)
        pid = self.vnetd.pid
        killer = threading.Timer(delay, os.kill, (pid, signal.SIGKILL))
        sent = 0
        killer.start()
        try:
            while sent < len(plan):
                chunk = plan[sent:sent + self.rng.randint(1, 12)]
                if self.rng.random() < 0.5:
                    if not client.send(chunk):
                        break
                    sent += len(chunk)
                else:
                    ok = True
                    for request in chunk:
                        if not client.send([request]):
                            ok = False
                            break
                        sent += 1
                        if not client.wait_for(request["id"]):
                            ok = False
                            break
                    if not ok:
                        break
            killer.join()
            self.vnetd.wait(20)
            client.finish()
        finally:
            killer.cancel()
        answered, unanswered = [], []
        for request in plan[:sent]:
            reply = client.replies.get(request["id"])
            if reply is None:
                unanswered.append(request)
            elif reply != {"return": {}, "id": request["id"]}:
                self.fail(f"seed {self.seed}, round {round_number}: {json.dumps(request)} answered {reply} "
                          f"(a valid request: the model and vnetd disagree)")
            else:
                answered.append(request)
        return answered, sent, unanswered

    def check(self, round_number, present, deleted, unanswered, failures, answered_adds=frozenset()):
        """Compares vnetd's listing and the namespace with the model after a
        restart; returns {id: {"args":..., "listed":...}} of what is listed."""
        listed = self.query()
        where = f"seed {self.seed}, after the kill of round {round_number - 1} (restart {round_number})"
        errors = []
        # A delete sent but not answered may have taken effect.
        maybe_deleted = {r["arguments"]["id"] for r in unanswered if r["execute"] == "netdev_del"}
        for netdev_id, args in present.items():
            if netdev_id not in listed and netdev_id not in maybe_deleted:
                how = ("answered" if netdev_id in answered_adds else "listed at the previous start")
                errors.append(f"{where}: netdev_add {json.dumps(args)} ({how}; no delete of it sent) is not "
                              f"listed by query-netdevs")
        for netdev_id, args in deleted.items():
            if netdev_id in listed:
                errors.append(f"{where}: answered netdev_del {{\"id\": \"{netdev_id}\"}} but vnetd still lists it: "
                              f"{json.dumps(listed[netdev_id])}")
        sent_adds = {r["arguments"]["id"]: r["arguments"] for r in unanswered if r["execute"] == "netdev_add"}
        known = {**present, **deleted, **sent_adds}
        for netdev_id in listed:
            if netdev_id not in known:
                errors.append(f"{where}: vnetd lists {netdev_id}, which the test never added or already saw "
                              f"deleted: {json.dumps(listed[netdev_id])}")
        # A tap listed must have its device; a device must be listed. Deleted
        # taps leave in the background: allow DEVICE_SETTLE for that.
        expected_devices = {known[i]["ifname"] for i in listed if i in known and known[i]["type"] == "tap"}
        deadline = time.monotonic() + DEVICE_SETTLE
        while True:
            devices = self.devices()
            if devices == expected_devices or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for name in sorted(expected_devices - devices):
            netdev_id = next(i for i in listed if known.get(i, {}).get("ifname") == name)
            errors.append(f"{where}: vnetd lists tap {netdev_id} (ifname {name}) but {name} is not in the namespace")
        by_ifname = {a["ifname"]: (i, a) for i, a in known.items() if a["type"] == "tap"}
        for name in sorted(devices - expected_devices):
            netdev_id, args = by_ifname.get(name, ("?", {}))
            if netdev_id in deleted:
                what = f"netdev_del {{\"id\": \"{netdev_id}\"}} was answered, yet the device is still there"
            elif netdev_id in present:
                what = f"netdev_add {json.dumps(args)} was answered, the device exists, vnetd does not list it"
            else:
                what = f"{json.dumps(args)} was sent but not answered; the device exists, vnetd does not list it"
            errors.append(f"{where}: orphan tap {name} after {DEVICE_SETTLE}s: {what}")
            # Removed by hand, so later rounds report only what they cause.
            run("ip", "-n", self.ns, "link", "del", name, check=False)
        for netdev_id, entry in listed.items():
            peer = entry.get("peer")
            if entry.get("type") != "nic":
                continue
            if peer and peer not in listed:
                errors.append(f"{where}: nic {netdev_id} lists peer {peer}, which is not listed")
            # Bound to the tap it was added with, as long as that tap is listed.
            wanted = known.get(netdev_id, {}).get("netdev")
            if wanted in listed and peer != wanted:
                errors.append(f"{where}: nic {netdev_id} was added with netdev={wanted}, which is listed, but its "
                              f"peer is now {peer!r}: {json.dumps(entry)}")
        unanswered_ids = [r["arguments"]["id"] for r in unanswered]
        took = [i for i in unanswered_ids if (i in listed) == (i in sent_adds)]
        print(f"restart {round_number}: {len(listed)} listed, {len(devices)} {PREFIX}* devices; "
              f"of {len(unanswered)} unanswered requests {len(took)} took effect; "
              f"{len(errors)} problems", flush=True)
        for error in errors:
            print("  FAIL " + error, flush=True)
        if errors:
            print("  vnetd's log since this start:\n    " +
                  "\n    ".join(self.log_tail(200000).rsplit("--- start\n", 1)[-1][-3000:].splitlines()), flush=True)
        failures.extend(errors)
        return {i: {"args": known.get(i, {"type": listed[i].get("type"), "id": i}), "listed": listed[i]}
                for i in listed}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--vnetd", help="the vnetd binary (default: $VNETD, else build/bin/vnetd)")
    known, rest = parser.parse_known_args()
    vnetd_harness._options.vnetd = known.vnetd
    unittest.main(argv=[sys.argv[0]] + rest)
