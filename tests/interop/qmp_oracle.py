#!/usr/bin/env python3
"""qmp_oracle - run one QMP request corpus against QEMU 7.2 and vnetd, compare.

Both peers start in their own private network namespace (`unshare --net`), so
nothing either creates reaches the host. The corpus (oracle_corpus.json) is
sent in order over one connection per peer; state carries over from request to
request. After every request the harness sends a sync request with a unique id
and collects everything up to its reply, so a request may legitimately get no
reply or several (joined requests, JSON lexer errors) and the two peers can
still be compared request by request. Events are skipped.

Prints one PASS/FAIL line per request and ends with "N passed, M failed".
Exit status: 0 if everything passed, 1 on any failure, 2 if it could not run.
See docs/qmp-oracle.md.
"""

import argparse
import array
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CORPUS = os.path.join(HERE, "oracle_corpus.json")
DEFAULT_VNETD = os.path.join(REPO, "build", "bin", "vnetd")

STARTUP_TIMEOUT = 10.0  # seconds for a peer to create its socket and greet
REPLY_TIMEOUT = 5.0     # seconds for one request's replies (and the sync reply)
CHUNK_PAUSE = 0.05      # between the chunks of a split request, so they arrive apart
VERBOSE_WIDTH = 300     # -v shows passing answers clipped to this; failures in full

COMPARE_MODES = {"same", "class", "bytes", "ok-both", "keys", "commands", "differs"}
PR_SET_PDEATHSIG = 1


class SetupError(Exception):
    """The oracle cannot run at all (missing peer, not root, bad corpus)."""


class PeerGone(Exception):
    """A peer closed the connection, died, or stopped answering."""


class Interrupted(Exception):
    """SIGTERM/SIGINT/SIGHUP: unwind so that both peers are still killed."""


# ---------------------------------------------------------------- peers

class Message:
    """One JSON text a peer wrote: its value and its exact text."""

    def __init__(self, text):
        self.text = text
        self.value = json.loads(text)

    def is_event(self):
        return isinstance(self.value, dict) and "event" in self.value


def die_with_parent():
    # ctest kills the harness with SIGKILL on timeout; the peers must not
    # outlive it. PDEATHSIG survives unshare's exec of the real peer.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Peer:
    """A QMP server process (QEMU or vnetd) and one client connection to it."""

    def __init__(self, label, argv, socket_path, log_path):
        self.label = label
        self.argv = argv
        self.socket_path = socket_path
        self.log_path = log_path
        self.proc = None
        self.sock = None
        self.buffer = b""
        self.gone = None  # why the peer can no longer be asked, once it cannot

    def start(self):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(["unshare", "--net", "--"] + self.argv,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=die_with_parent)
        return self.connect()

    def connect(self):
        """Connect (again) and return the greeting."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise PeerGone(f"exited with status {self.proc.returncode}: {self.log_tail()}")
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(self.socket_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise PeerGone(f"no socket at {self.socket_path} after {STARTUP_TIMEOUT:.0f}s")
                time.sleep(0.02)
        self.sock, self.buffer = sock, b""
        return self.next_message(time.monotonic() + STARTUP_TIMEOUT)

    def reconnect(self):
        self.sock.close()
        return self.connect()

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read()[-400:].decode(errors="replace").strip() or "(no output)"
        except OSError:
            return "(no log)"

    def next_message(self, deadline):
        """The next JSON text the peer writes (peers write one per line)."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerGone(f"no reply within {REPLY_TIMEOUT:.0f}s")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as err:
                raise PeerGone(f"connection failed: {err}")
            if not data:
                raise PeerGone(f"closed the connection: {self.log_tail()}")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        if not text.strip():
            return self.next_message(deadline)
        try:
            return Message(text)
        except (ValueError, RecursionError):
            raise PeerGone(f"wrote something that is not JSON: {text!r}")

    def send(self, data, fds=0):
        """Send bytes, with `fds` copies of /dev/null attached as SCM_RIGHTS."""
        if not fds:
            self.sock.sendall(data)
            return
        opened = [os.open("/dev/null", os.O_RDONLY) for _ in range(fds)]
        try:
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", opened))]
            sent = self.sock.sendmsg([data], rights)
            self.sock.sendall(data[sent:])
        finally:
            for fd in opened:
                os.close(fd)

    def exchange(self, chunks, fds, sync_id):
        """Send one request (maybe in chunks) and return the replies it got.

        The replies are everything before the reply to a sync request sent
        right after it; QMP answers in-band requests in order.
        """
        try:
            for i, chunk in enumerate(chunks):
                if i:
                    time.sleep(CHUNK_PAUSE)
                self.send(chunk, fds if i == 0 else 0)
            sync = {"execute": "query-version", "id": sync_id}
            self.send(b"\n" + json.dumps(sync).encode() + b"\n")
            replies = []
            deadline = time.monotonic() + REPLY_TIMEOUT
            while True:
                msg = self.next_message(deadline)
                if msg.is_event():
                    continue
                if isinstance(msg.value, dict) and msg.value.get("id") == sync_id:
                    return replies
                replies.append(msg)
        except OSError as err:
            raise PeerGone(f"send failed: {err}")

    def stop(self):
        if self.sock:
            self.sock.close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- comparing

def strict_equal(a, b):
    """JSON equality that keeps true != 1 and 1 != 1.0, as the wire does."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    return a == b


def shape(value):
    """The structure of a value without its contents: keys and JSON types."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def outcome(msg):
    """('error', class, desc) or ('return', value) or ('other', value)."""
    value = msg.value
    if isinstance(value, dict) and isinstance(value.get("error"), dict):
        return ("error", value["error"].get("class"), value["error"].get("desc"))
    if isinstance(value, dict) and "return" in value:
        return ("return", value["return"])
    return ("other", value)


def same_id(a, b):
    if ("id" in a.value) != ("id" in b.value):
        return False
    return strict_equal(a.value.get("id"), b.value.get("id"))


def masked(desc, masks):
    """A desc with the parts no two processes can share (fd numbers) blanked."""
    for pattern in masks:
        desc = re.sub(pattern, "<masked>", desc or "")
    return desc


def compare_pair(mode, a, b, masks=()):
    """Why reply a (QEMU) and reply b (vnetd) differ under `mode`, or None."""
    if not isinstance(a.value, dict) or not isinstance(b.value, dict):
        return "a reply is not a JSON object"
    if mode == "bytes":
        return None if a.text == b.text else "reply texts differ"
    if not same_id(a, b):
        return "the echoed id differs"
    oa, ob = outcome(a), outcome(b)
    if oa[0] != ob[0]:
        return f"one gives {oa[0]}, the other {ob[0]}"
    if oa[0] == "error":
        if oa[1] != ob[1]:
            return "error class differs"
        if mode == "same" and masked(oa[2], masks) != masked(ob[2], masks):
            return "error desc differs"
        return None
    if mode == "same" and not strict_equal(oa[1], ob[1]):
        return "return value differs"
    return None


def compare_lists(mode, qemu, vnetd, masks=()):
    if len(qemu) != len(vnetd):
        return f"{len(qemu)} replies from QEMU, {len(vnetd)} from vnetd"
    for a, b in zip(qemu, vnetd):
        why = compare_pair(mode, a, b, masks)
        if why:
            return why
    return None


def single_return(replies, who):
    if len(replies) != 1 or outcome(replies[0])[0] != "return":
        return None, f"{who} did not succeed with one reply"
    return outcome(replies[0])[1], None


def matches_expect(msg, expect):
    """Why one reply does not meet an expectation from the corpus, or None."""
    kind = outcome(msg)
    if "return" in expect or expect.get("ok"):
        if kind[0] != "return":
            return "expected success"
        if "return" in expect and not strict_equal(kind[1], expect["return"]):
            return "return value differs from the expected one"
        return None
    if kind[0] != "error":
        return "expected an error"
    if "class" in expect and kind[1] != expect["class"]:
        return f"expected class {expect['class']}"
    if "desc" in expect and kind[2] != expect["desc"]:
        return f"expected desc {expect['desc']!r}"
    if "desc_contains" in expect and expect["desc_contains"] not in (kind[2] or ""):
        return f"expected desc containing {expect['desc_contains']!r}"
    return None


def check_expect(replies, expect, who):
    if not replies:
        return f"no reply from {who}"
    for msg in replies:
        why = matches_expect(msg, expect)
        if why:
            return f"{who}: {why}"
    return None


def pending_backend(entry, vnetd):
    """True if vnetd answered that the entry's backend is not built yet."""
    backend = entry.get("pending")
    if not backend or len(vnetd) != 1:
        return False
    text = f"netdev type '{backend}' is not implemented in this vnetd yet"
    return outcome(vnetd[0]) == ("error", "GenericError", text)


def judge(entry, mode, qemu, vnetd, corpus):
    """None if the entry passes, else the reason it fails."""
    if "reconnect" in entry:
        return compare_greetings(qemu, vnetd)
    if mode == "differs":
        why = check_expect(vnetd, entry["expect"], "vnetd")
        if not why and "qemu" in entry:
            why = check_expect(qemu, entry["qemu"], "QEMU")
        return why
    if mode in ("ok-both", "keys", "commands"):
        qv, why = single_return(qemu, "QEMU")
        vv, why2 = single_return(vnetd, "vnetd")
        if why or why2 or mode == "ok-both":
            return why or why2
        if mode == "keys":
            return None if shape(qv) == shape(vv) else "shapes differ"
        return missing_commands(qv, vv, corpus["seed_commands"])
    return compare_lists(mode, qemu, vnetd, entry.get("mask", ()))


def compare_greetings(qemu, vnetd):
    """Greetings differ in version and capabilities by design; compare shapes."""
    if len(qemu) != 1 or len(vnetd) != 1:
        return "expected one greeting from each"
    if not all(isinstance(m.value, dict) and "QMP" in m.value for m in (qemu[0], vnetd[0])):
        return "a greeting lacks the QMP member"
    return None if shape(qemu[0].value) == shape(vnetd[0].value) else "greeting shapes differ"


def missing_commands(qemu_list, vnetd_list, required):
    for who, listing in (("QEMU", qemu_list), ("vnetd", vnetd_list)):
        names = {item.get("name") for item in listing if isinstance(item, dict)}
        missing = [name for name in required if name not in names]
        if missing:
            return f"{who} lacks {', '.join(missing)}"
    return None


# ---------------------------------------------------------------- the corpus

def load_corpus(path):
    try:
        with open(path, encoding="utf-8") as f:
            corpus = json.load(f)
    except (OSError, ValueError) as err:
        raise SetupError(f"cannot read corpus {path}: {err}")
    for i, entry in enumerate(corpus["entries"], 1):
        problem = corpus_problem(entry)
        if problem:
            raise SetupError(f"corpus entry {i} ({entry.get('name', '?')}): {problem}")
    return corpus


def corpus_problem(entry):
    actions = [key for key in ("send", "raw", "reconnect") if key in entry]
    if "name" not in entry:
        return "no name"
    if len(actions) != 1:
        return "needs exactly one of send, raw, reconnect"
    if entry.get("compare") not in COMPARE_MODES:
        return f"compare must be one of {sorted(COMPARE_MODES)}"
    if entry["compare"] == "differs" and not (entry.get("why") and "expect" in entry):
        return "a 'differs' entry needs 'why' and 'expect'"
    if entry.get("skip_qemu") and (entry["compare"] != "differs" or "qemu" in entry):
        return "a 'skip_qemu' entry must be 'differs' with no 'qemu' expectation"
    return None


def request_chunks(entry):
    """The bytes to send for an entry, as one or more writes."""
    if "send" in entry:
        text = json.dumps(entry["send"], separators=(",", ":"))
        if "nested_id" in entry:
            # An "id" of N nested arrays, to probe the nesting limit.
            depth = entry["nested_id"]
            text = text[:-1] + ',"id":' + "[" * depth + "]" * depth + "}"
        return [text.encode() + b"\n"]
    raw = entry["raw"]
    pieces = raw if isinstance(raw, list) else [raw]
    pieces = [piece.encode("utf-8") for piece in pieces]
    pieces[-1] += b"\n"
    return pieces


def describe_request(entry):
    if "reconnect" in entry:
        return "(reconnect)"
    return b"".join(request_chunks(entry)).decode("utf-8", errors="replace").strip()


# ---------------------------------------------------------------- running

class Oracle:
    def __init__(self, corpus, peers, self_test, verbose):
        self.corpus = corpus
        self.qemu, self.vnetd = peers
        self.self_test = self_test
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def ask(self, peer, entry, sync_id):
        """A peer's replies to an entry, or None if the peer is gone."""
        if peer.gone:
            return None
        try:
            if "reconnect" in entry:
                return [peer.reconnect()]
            return peer.exchange(request_chunks(entry), entry.get("fds", 0), sync_id)
        except PeerGone as err:
            peer.gone = f"{err} (its output: {peer.log_tail()})"
            return None

    def run_entry(self, number, entry):
        if entry.get("skip_qemu") and self.self_test:
            print(f"SKIP {number:3d} [{entry['compare']}] {entry['name']}: not sent to QEMU")
            return
        sync_id = f"qmp-oracle-sync-{number}"
        # Some requests crash QEMU (see the entry's "why"); vnetd alone answers them.
        qemu = [] if entry.get("skip_qemu") else self.ask(self.qemu, entry, sync_id)
        vnetd = self.ask(self.vnetd, entry, sync_id)
        mode = entry["compare"]
        note = ""
        if qemu is None or vnetd is None:
            gone = self.qemu if qemu is None else self.vnetd
            why = f"{gone.label} is gone: {gone.gone}"
            gone.gone = f"gone since request {number}"
        elif self.self_test:
            # QEMU against itself: every entry must agree exactly.
            why = judge(entry, "same" if mode in ("differs", "class") else mode, qemu, vnetd, self.corpus)
        elif pending_backend(entry, vnetd):
            why, note = None, f" (pending: vnetd has no {entry['pending']} backend yet)"
        else:
            why = judge(entry, mode, qemu, vnetd, self.corpus)
        self.report(number, entry, mode, why, note, qemu, vnetd)

    def report(self, number, entry, mode, why, note, qemu, vnetd):
        status = "FAIL" if why else "PASS"
        print(f"{status} {number:3d} [{mode}] {entry['name']}{note}" + (f": {why}" if why else ""))
        if why or self.verbose:
            limit = None if why else VERBOSE_WIDTH
            qemu_text = "(not sent)" if entry.get("skip_qemu") else render(qemu, limit)
            print(f"         request: {clip(describe_request(entry), limit)}")
            print(f"         {self.qemu.label:<7}: {qemu_text}")
            print(f"         {self.vnetd.label:<7}: {render(vnetd, limit)}")
        if why:
            self.failed += 1
        else:
            self.passed += 1

    def run(self, greetings):
        entry = {"name": "greeting has QEMU's shape", "compare": "keys", "reconnect": True}
        qemu, vnetd = [[greeting] for greeting in greetings]
        self.report(0, entry, "keys", compare_greetings(qemu, vnetd), "", qemu, vnetd)
        for number, entry in enumerate(self.corpus["entries"], 1):
            self.run_entry(number, entry)
        print(f"{self.passed} passed, {self.failed} failed")
        return 0 if self.failed == 0 else 1


def clip(text, limit):
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."


def render(replies, limit=None):
    if replies is None:
        return "(gone)"
    if not replies:
        return "(no reply)"
    return clip(" | ".join(msg.text for msg in replies), limit)


def find_qemu(path):
    found = shutil.which(path)
    if not found:
        raise SetupError(f"QEMU not found ({path}): install the Debian package qemu-system-x86 "
                         "(apt-get install qemu-system-x86)")
    return found


def find_vnetd(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SetupError(f"vnetd not found at {path}: build it with "
                         "`cmake -S . -B build && cmake --build build -j2`")
    return path


def check_privileges():
    if os.geteuid() != 0:
        raise SetupError("must run as root: each peer runs in its own network namespace (unshare --net)")
    if not shutil.which("unshare"):
        raise SetupError("unshare not found: install the Debian package util-linux")


def qemu_argv(qemu, sock):
    return [qemu, "-M", "none", "-nodefaults", "-display", "none",
            "-qmp", f"unix:{sock},server=on,wait=off"]


def make_peers(args, workdir):
    qemu = find_qemu(args.qemu)
    qemu_sock = os.path.join(workdir, "qemu.sock")
    first = Peer("QEMU", qemu_argv(qemu, qemu_sock), qemu_sock, os.path.join(workdir, "qemu.log"))
    other_sock = os.path.join(workdir, "other.sock")
    other_log = os.path.join(workdir, "other.log")
    if args.self_test:
        return first, Peer("QEMU'", qemu_argv(qemu, other_sock), other_sock, other_log)
    vnetd = find_vnetd(args.vnetd)
    state = os.path.join(workdir, "vnetd-state")
    os.mkdir(state)
    # QEMU runs any script, helper, vde plugin, guestfwd command and tftp/smb
    # directory it is given; vnetd only what its [programs] policy allows
    # (docs/security.md). The corpus compares QEMU's checks, so vnetd runs
    # with the policy open; the policy's refusals have tests of their own.
    config = os.path.join(workdir, "vnetd.toml")
    with open(config, "w") as f:
        f.write('[programs]\nscript-dirs = ["/"]\nhelper-dirs = ["/"]\nvde-plugins = ["*"]\n'
                'user-guestfwd-cmd = true\nuser-dirs = ["/"]\n')
    argv = [vnetd, "--socket", other_sock, "--state-dir", state, "--config", config]
    return first, Peer("vnetd", argv, other_sock, other_log)


def start_peer(peer):
    try:
        return peer.start()
    except PeerGone as err:
        raise SetupError(f"{peer.label} ({peer.argv[0]}) did not start: {err}")


def on_signal(signum, _frame):
    raise Interrupted(f"interrupted by signal {signum}")


def parse_args():
    parser = argparse.ArgumentParser(description="Compare vnetd's QMP answers with QEMU 7.2's.")
    parser.add_argument("--vnetd", default=os.environ.get("VNETD", DEFAULT_VNETD),
                        help="vnetd binary (default: $VNETD or build/bin/vnetd)")
    parser.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"),
                        help="QEMU binary (default: $QEMU or qemu-system-x86_64 on PATH)")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="request corpus (JSON)")
    parser.add_argument("--self-test", action="store_true",
                        help="run QEMU against QEMU, to check that the corpus is deterministic")
    parser.add_argument("-v", "--verbose", action="store_true", help="print both answers for every request")
    return parser.parse_args()


def main():
    args = parse_args()
    # The corpus nests ids up to QEMU's limit (1024); json needs the stack for it.
    sys.setrecursionlimit(20000)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    workdir = tempfile.mkdtemp(prefix="qmp-oracle-")
    peers = []
    try:
        check_privileges()
        corpus = load_corpus(args.corpus)
        peers = list(make_peers(args, workdir))
        oracle = Oracle(corpus, peers, args.self_test, args.verbose)
        greetings = [start_peer(peer) for peer in peers]
        return oracle.run(greetings)
    except (SetupError, Interrupted) as err:
        print(f"qmp_oracle: {err}", file=sys.stderr)
        return 2
    finally:
        # A second signal must not interrupt the cleanup itself.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for peer in peers:
            peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
