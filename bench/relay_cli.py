"""relay_cli - what the frame-rate benchmarks (datapath_relay, vhost_user_relay,
guest_to_guest, guest_to_l2tpv3) share: their command line, the root check, a
load generator's ready/go handshake, rounds in a namespace, medians, and how a
run ends."""
import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def parser(doc, *binaries):
    """--vnetd, --load and the other binaries named (e.g. "--vu-load"), all
    required; --rounds, --seconds, --quick."""
    parsed = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option in ("--vnetd", "--load", *binaries):
        parsed.add_argument(option, required=True)
    parsed.add_argument("--rounds", type=int, default=3)
    parsed.add_argument("--seconds", type=float, default=2.0)
    parsed.add_argument("--quick", action="store_true")
    return parsed


def run_as_root(name, args, run, report):
    """report(run(args), args.quick), once root is checked: a benchmark runs in a
    network namespace of its own."""
    if os.geteuid() != 0:
        print(f"{name}: needs root (a network namespace of its own)", file=sys.stderr)
        return 1
    return report(run(args), args.quick)


def finish(failed, quick):
    """The end of a report: the smoke run's caveat, what delivered nothing, and the exit status."""
    if quick:
        print("(--quick: a smoke run; the figures mean nothing)")
    for reason in failed:
        print(f"FAILED: {reason}", file=sys.stderr)
    return 1 if failed else 0


def run_load(argv, pass_fds=(), after_ready=None):
    """Runs a load generator that prints {"ready": true}, waits for a byte on
    stdin, then prints its result as one JSON line; after_ready() finishes
    the setup in between (ports put on a bridge). Returns the result."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=pass_fds)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready.get("ready"), ready
        if after_ready:
            after_ready()
        proc.stdin.write("g")
        proc.stdin.flush()
        out = proc.stdout.readline()
        proc.wait(30)
        return json.loads(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def rounds_in_netns(args, prefix, one_round):
    """The paths take turns: one_round(work, seconds) per round, in a network
    namespace of the run's own with IPv6 off (no chatter in the counts)."""
    from qemu_announce import private_netns  # tests/interop, on the benchmarks' path
    work = tempfile.mkdtemp(prefix=prefix)
    seconds = 0.5 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    try:
        with private_netns():
            subprocess.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"], check=True, capture_output=True)
            for round_number in range(rounds):
                one_round(work, seconds)
                print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def medians(results):
    """Per key: the median delivered frames/s, and the median share of the
    generator's frames that arrived (near 100%: the path kept up, and the
    generator set the pace)."""
    fps = {key: statistics.median(s["delivered_fps"] for s in samples) for key, samples in results.items()}
    kept = {key: statistics.median(s["received"] / max(s["sent"], 1) for s in samples)
            for key, samples in results.items()}
    return fps, kept


@contextlib.contextmanager
def vnetd_daemon(vnetd_binary, work, bridge_acl=""):
    """A vnetd of the run's own, in the run's namespace (bridge_acl: its
    bridge.conf, e.g. "allow br0\\n"); yields its QMP client and work dir."""
    from vnetd_harness import QmpClient, Vnetd  # tests/integration, on the benchmarks' path
    os.environ["VNETD"] = vnetd_binary
    daemon = Vnetd(os.path.join(work, f"vnetd-{time.monotonic_ns()}"), own_netns=False)
    os.mkdir(daemon.workdir)
    if bridge_acl:
        with open(os.path.join(daemon.workdir, "bridge.conf"), "w") as acl:
            acl.write(bridge_acl)
    daemon.start()
    client = QmpClient(daemon.socket_path)
    try:
        yield client, daemon.workdir
    finally:
        client.close()
        daemon.stop()
        daemon.kill()
