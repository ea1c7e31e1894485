"""relay_cli - what the frame-rate benchmarks (datapath_relay, vhost_user_relay,
guest_to_guest) share: their command line, the root check, a load generator's
ready/go handshake, and how a run ends."""
import argparse
import json
import os
import subprocess
import sys


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
