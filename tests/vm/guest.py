"""guest - a real Linux guest under QEMU 7.2 TCG, for the vm tier.

build_guest() runs tests/vm/build-guest once per directory (Debian's 6.12
kernel, busybox, iproute2's ip, virtio_net). A Guest boots it:

  qemu-system-x86_64 -M pc -accel tcg -nodefaults -display none -m 256
      -kernel vmlinuz -initrd initrd.img -no-reboot
      -append "console=ttyS0 quiet panic=-1 ipv6.disable=1"
      -chardev socket,path=DIR/console.sock,server=on,wait=on -serial chardev:...
      -qmp unix:DIR/vnetd.qmp,server=on,wait=off     (for vnetd's vmm-attach)
      -qmp unix:DIR/test.qmp,server=on,wait=off      (for the test: Guest.qmp)
      EXTRA...

QEMU serves one client per -qmp socket, hence two. QEMU dies with the test
(PR_SET_PDEATHSIG). The console is read by a thread into DIR/console.log;
run() sends one command line to the guest's shell (tests/vm/guest-init) and
returns its status and output, found between markers that the command line
itself does not contain (printf assembles them), so an echo of the line can
never be taken for its output.

Timeouts scale with VNETD_TIMEOUT_SCALE, as in vnetd_harness.py. Boot takes
7 to 12 s on the 2-core machines. Python 3 standard library only.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
from vnetd_harness import TIMEOUT_SCALE, QmpClient  # noqa: E402
from qemu_announce import die_with_parent  # noqa: E402

BOOT_TIMEOUT = 90.0 * TIMEOUT_SCALE   # 7-12 s seen; a loaded CI machine is much slower
COMMAND_TIMEOUT = 30.0 * TIMEOUT_SCALE
STARTUP_TIMEOUT = 15.0 * TIMEOUT_SCALE
APPEND = "console=ttyS0 quiet panic=-1 ipv6.disable=1"


class GuestError(AssertionError):
    """Something the guest was asked to do did not happen; the message ends
    with the end of its console."""


def find_qemu():
    found = shutil.which("qemu-system-x86_64")
    if not found:
        raise AssertionError("qemu-system-x86_64 is missing: apt-get install qemu-system-x86 "
                             "(or run scripts/install-deps)")
    if os.geteuid() != 0:
        raise AssertionError("the vm tier must run as root (vnetd's taps, network namespaces)")
    return found


def build_guest(out):
    """Runs tests/vm/build-guest --out OUT; returns (vmlinuz, initrd.img).
    A host without what the guest needs fails here, saying what is missing."""
    done = subprocess.run([os.path.join(HERE, "build-guest"), "--out", out], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"tests/vm/build-guest failed (status {done.returncode}):\n{done.stderr.strip()}")
    return os.path.join(out, "vmlinuz"), os.path.join(out, "initrd.img")


class Guest:
    """One QEMU with the vm tier's guest in it; see the module's text."""

    _counter = 0

    def __init__(self, workdir, images, extra_args=(), pass_fds=(), smp=1, memory=256, name="guest"):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.name = name
        self.images = images        # None: no guest at all, the machine stopped (-S): only its QMP is used
        self.extra_args = list(extra_args)
        self.pass_fds = tuple(pass_fds)
        self.smp, self.memory = smp, memory
        self.console_path = os.path.join(workdir, "console.sock")
        self.vnetd_qmp_path = os.path.join(workdir, "vnetd.qmp")
        self.test_qmp_path = os.path.join(workdir, "test.qmp")
        self.log_path = os.path.join(workdir, "console.log")
        self.stderr_path = os.path.join(workdir, "qemu.stderr")
        self.proc = None
        self.qmp = None
        self.console = None
        self._text = ""             # the console so far, \r removed
        self._lock = threading.Condition()
        self._reader = None
        self.boot_seconds = None

    # -- life
    def command(self):
        if self.images:
            boot = ["-kernel", self.images[0], "-initrd", self.images[1], "-append", APPEND]
        else:
            boot = ["-S"]
        # Several vCPUs on one TCG thread: with a thread per vCPU (MTTCG) the
        # guest kernel's code patching at boot raced another vCPU once in CI
        # ("Oops: int3" in the guest).
        accel = "tcg,thread=single" if self.smp > 1 else "tcg"
        return [find_qemu(), "-M", "pc", "-accel", accel, "-nodefaults", "-display", "none",
                "-m", str(self.memory), "-smp", str(self.smp), "-no-reboot"] + boot + [
                "-chardev", f"socket,id=console,path={self.console_path},server=on,wait=on",
                "-serial", "chardev:console",
                "-qmp", f"unix:{self.vnetd_qmp_path},server=on,wait=off",
                "-qmp", f"unix:{self.test_qmp_path},server=on,wait=off"] + self.extra_args

    def start(self):
        """Starts QEMU and connects the console and the test's QMP; does not
        wait for the guest (wait_ready())."""
        started = time.monotonic()
        self._started = started
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         pass_fds=self.pass_fds, preexec_fn=die_with_parent)
        # wait=on: QEMU goes no further than the console's listen() until we
        # connect, so the console log starts at the firmware's first byte.
        self.console = self._connect(self.console_path, started)
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        deadline = started + STARTUP_TIMEOUT
        while True:
            try:
                self.qmp = QmpClient(self.test_qmp_path)
                break
            except (FileNotFoundError, ConnectionRefusedError, AssertionError):
                # Not listening yet, or a monitor still starting up greeted twice.
                if not self.running() or time.monotonic() > deadline:
                    raise GuestError(f"QEMU's QMP socket {self.test_qmp_path} never answered" + self.tail())
                time.sleep(0.05)
        return self

    def _connect(self, path, started):
        deadline = started + STARTUP_TIMEOUT
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if not self.running() or time.monotonic() > deadline:
                    raise GuestError(f"QEMU did not open its console socket {path}" + self.tail())
                time.sleep(0.02)

    def _read_console(self):
        with open(self.log_path, "ab") as log:
            while True:
                try:
                    data = self.console.recv(65536)
                except OSError:
                    data = b""
                if data:
                    log.write(data)
                    log.flush()
                with self._lock:
                    if data:
                        text = data.decode("utf-8", "replace").replace("\r", "")
                        # SeaBIOS and the kernel clear the screen with escape sequences.
                        self._text += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc", "", text)
                    else:
                        self._text += "\n[console closed]\n"
                    self._lock.notify_all()
                if not data:
                    return

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        """Waits for /init's VM-READY and for the shell to answer; returns the
        seconds since start()."""
        self._wait_for(re.compile(r"^VM-READY ", re.M), 0, timeout, "the guest did not boot (no VM-READY)")
        failed = re.findall(r"^VM-MODULE .*", self._text, re.M)
        if failed:
            raise GuestError("modules did not load in the guest: " + "; ".join(failed) + self.tail())
        # The shell opens ttyS0 just after VM-READY; what is sent before it
        # does is lost, so ask until it answers.
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, out = self.run("echo up", timeout=2.0 * TIMEOUT_SCALE)
                if status == 0 and out == "up\n":
                    break
            except GuestError:
                if time.monotonic() > deadline or not self.running():
                    raise
        self.boot_seconds = time.monotonic() - self._started
        return self.boot_seconds

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Kills QEMU (SIGKILL unless told) and waits for it."""
        if self.running():
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def close(self):
        """Stops QEMU and closes what the test held; safe to call twice."""
        if self.qmp:
            self.qmp.close()
            self.qmp = None
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.console:
            self.console.close()
            self.console = None

    # -- the console
    def console_text(self):
        with self._lock:
            return self._text

    def tail(self, chars=3000):
        """The end of the console and of QEMU's stderr, for a failure message."""
        text = self.console_text()[-chars:]
        try:
            with open(self.stderr_path, errors="replace") as f:
                err = f.read()[-chars:].strip()
        except OSError:
            err = ""
        state = "running" if self.running() else f"exited with status {self.proc.returncode if self.proc else None}"
        return (f"\n--- {self.name}: QEMU {state}; its console ({self.log_path}) ends:\n{text}\n--- end of console" +
                (f"\n--- QEMU's stderr:\n{err}" if err else ""))

    def _wait_for(self, pattern, start, timeout, what):
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                match = pattern.search(self._text, start)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or not self.running():
                    why = "QEMU exited" if not self.running() else f"nothing after {timeout:.0f}s"
                    raise GuestError(f"{what} ({why})" + self.tail())
                self._lock.wait(min(left, 0.5))

    def run(self, command, timeout=COMMAND_TIMEOUT):
        """Runs one shell command line in the guest; returns (status, output)
        with stdout and stderr together."""
        if "\n" in command:
            raise ValueError("one line per command")
        Guest._counter += 1
        n = Guest._counter
        with self._lock:
            start = len(self._text)
        line = (f"printf '%s-B{n}\\n' VMS; ( {command} ) </dev/null 2>&1; "
                f"printf '\\n%s-E{n} %d\\n' VMS $?\n")
        self.console.sendall(line.encode())
        begin = self._wait_for(re.compile(rf"^VMS-B{n}\n", re.M), start, timeout,
                               f"the guest's shell did not start `{command}`")
        end = self._wait_for(re.compile(rf"\nVMS-E{n} (\d+)\n"), begin.end(), timeout,
                             f"`{command}` did not finish in the guest within {timeout:.0f}s")
        with self._lock:
            output = self._text[begin.end():end.start()]  # the end marker's line starts with its own \n
        return int(end.group(1)), output

    def check(self, command, timeout=COMMAND_TIMEOUT):
        """run() for a command that must succeed; returns its output."""
        status, output = self.run(command, timeout)
        if status != 0:
            raise GuestError(f"`{command}` failed in the guest with status {status}:\n{output}" + self.tail(1500))
        return output

    def dhcp(self, ifname="eth0", gateway=None):
        """Brings ifname up and takes a DHCP lease (busybox udhcpc, no script:
        the lease is read from its output); with gateway, configures the
        address and a default route through it. Returns the address."""
        self.check(f"ip link set {ifname} up")
        out = self.check(f"udhcpc -i {ifname} -n -q -t 10 -T 2 -s /bin/true", timeout=60 * TIMEOUT_SCALE)
        lease = re.search(r"lease of (\d+\.\d+\.\d+\.\d+) obtained", out)
        if not lease:
            raise GuestError(f"no DHCP lease on {ifname}:\n{out}")
        if gateway:
            self.check(f"ip addr add {lease.group(1)}/24 dev {ifname} && ip route add default via {gateway}")
        return lease.group(1)

    def read_int(self, path):
        return int(self.check(f"cat {path}").strip())


def kill_vnetd_until_pings_resume(test, gateway, bound):
    """SIGKILLs test.daemon and starts it again on the same state, then pings
    gateway from test.guest until a reply comes (within bound seconds, or the
    test fails). test's class gets a new vnetd client. Returns the seconds
    from the kill to the reply."""
    test.daemon.kill()
    killed = time.monotonic()
    test.daemon.start()
    type(test).vnetd = QmpClient(test.daemon.socket_path)
    test.addClassCleanup(type(test).vnetd.close)
    while True:
        status, _ = test.guest.run(f"ping -c 1 -W 1 {gateway}", timeout=COMMAND_TIMEOUT)
        if status == 0:
            return time.monotonic() - killed
        test.assertLess(time.monotonic() - killed, bound, "the guest's traffic never resumed\n" +
                        str(test.details()) + "\n" + test.daemon.log()[-3000:])
