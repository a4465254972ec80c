"""Running untrusted Python (model completions) in a throwaway sandbox, for the `code` reward.

Each run is a separate process with CPU-time, memory, file-size, open-file and process-count limits, a
wall-clock timeout, a minimal environment (no inherited variables, so no secrets), and `python -I`. Where the
kernel lends unprivileged Linux namespaces (as bubblewrap uses them), the program also gets:

- no network: a private network namespace holding only a down loopback interface;
- no filesystem but its own: a chroot into a tmpfs that shows the system and Python directories read-only,
  /dev/null and friends, a private /proc, and a writable work directory (also $HOME) and /tmp, each a tmpfs
  of `file_size_mb` that vanishes with the run. The host's /tmp, home directories and the repository are
  absent (bar the interpreter's own directories, read-only);
- no process that outlives it: pid 1 of a private PID namespace reaps orphans and, when the program's main
  process exits or the timeout strikes, the kernel kills everything in that namespace;
- a process count of its own: RLIMIT_NPROC is counted per user namespace since Linux 5.14 (on older kernels
  the user's other processes count too, so a program may be unable to start threads or processes at all);
  a program run by root runs as `nobody`, because the kernel exempts root from RLIMIT_NPROC.

Where namespaces are unavailable (some containers, kernels with unprivileged user namespaces off) the code
still runs, with resource limits, the timeout and a process-group kill only, and one warning is logged: it can
then reach the network and write wherever its user may, RLIMIT_NPROC counts all of its user's processes
(and does not hold root at all), and a process that calls setsid() can outlive the run.

The usual practice (open-r1's code reward, for one) sends code to a remote sandbox service or a container;
this needs neither, at the price of trusting the kernel's namespaces. The child side lives in
`_sandbox_launcher.py`.
"""

import functools
import json
import logging
import math
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0  # seconds of wall clock per run, start-up (~0.1 s) included
DEFAULT_MEMORY_MB = 1024  # address space (RLIMIT_AS) per process, MiB
DEFAULT_FILE_SIZE_MB = 16  # largest file, stdout and stderr included, and the work directory's size, MiB
DEFAULT_MAX_PROCESSES = 16  # processes and threads at once, the program's main process included

_LAUNCHER = str(Path(__file__).with_name("_sandbox_launcher.py"))
_PROGRAM_NAME = "solution.py"
_WORKDIR = "/sandbox"  # inside the sandbox's filesystem
_STDERR_KEEP_CHARS = 4000  # the tail, where a traceback ends
_SUPERVISOR_GRACE = 5.0  # seconds beyond `timeout` before the parent kills the supervisor itself
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/localtime")
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    # One BLAS/OpenMP thread: each thread counts against max_processes.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_NOBODY = 65534
_probe_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxResult:
    stdout: str
    stderr: str  # the last 4,000 characters
    returncode: int | None  # the exit code, -N when killed by signal N; None when it never finished
    timed_out: bool
    isolated: bool  # ran inside namespaces (network, filesystem and process isolation)
    error: str | None = None  # why the sandbox itself failed, when it did

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_untrusted(
    code: str,
    stdin: str = "",
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cpu_seconds: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    file_size_mb: int = DEFAULT_FILE_SIZE_MB,
    max_processes: int = DEFAULT_MAX_PROCESSES,
) -> SandboxResult:
    """Run `code` as a Python program fed `stdin`. Whatever the code and stdin, it returns (never raises) within
    `timeout` plus a few seconds.

    `cpu_seconds` (RLIMIT_CPU, per process) defaults to `timeout` rounded up. Output beyond `file_size_mb` makes
    the program's writes fail.
    """
    limits = {
        "timeout": float(timeout),
        "cpu_seconds": int(cpu_seconds if cpu_seconds is not None else max(1, math.ceil(timeout))),
        "memory_mb": int(memory_mb),
        "file_size_mb": int(file_size_mb),
        "max_processes": int(max_processes),
    }
    return _run(code, stdin, isolate=namespace_isolation_available(), limits=limits)


def namespace_isolation_available() -> bool:
    """Whether the sandbox can use namespaces here; probed once per process, a warning logged if not."""
    with _probe_lock:
        return _probe_isolation()


@functools.cache
def _probe_isolation() -> bool:
    limits = {"timeout": 10.0, "cpu_seconds": 10, "memory_mb": 1024, "file_size_mb": 1, "max_processes": 4}
    probe = _run("pass", "", isolate=True, limits=limits)
    if probe.ok:
        return True
    reason = probe.error or probe.stderr.strip() or f"exit status {probe.returncode}"
    logger.warning(
        "sandbox: Linux namespaces are unavailable here (%s); untrusted code runs with resource limits only, "
        "without network, filesystem or process isolation",
        reason,
    )
    return False


def _run(code: str, stdin: str, *, isolate: bool, limits: dict) -> SandboxResult:
    base = None
    try:
        base = Path(tempfile.mkdtemp(prefix="r1recipes-sandbox-"))
        return _run_in(base, code, stdin, isolate, limits)
    except Exception as exc:  # a full disk, say, or code that is not text: a failed run, not a crash
        return SandboxResult("", "", None, False, isolate, error=f"{type(exc).__name__}: {exc}")
    finally:
        if base is not None:
            _remove_tree(base)


def _run_in(base: Path, code: str, stdin: str, isolate: bool, limits: dict) -> SandboxResult:
    (base / "work").mkdir()
    (base / "root").mkdir()
    # surrogatepass: text that is not valid Unicode still reaches Python, which rejects it like any bad source
    (base / _PROGRAM_NAME).write_bytes(code.encode("utf-8", "surrogatepass"))
    (base / "stdin").write_bytes(stdin.encode("utf-8", "surrogatepass"))
    config = {
        **limits,
        "isolate": isolate,
        "python": sys.executable,
        "program": str(base / _PROGRAM_NAME),
        "program_name": _PROGRAM_NAME,
        "host_workdir": str(base / "work"),
        "workdir": _WORKDIR,
        "root": os.path.realpath(base / "root"),  # as /proc/self/mountinfo names it, symlinks resolved
        "report": str(base / "report.json"),
        "readonly_paths": _readonly_paths(),
        "program_ids": _program_ids(),
        "env": _ENV,
    }
    # stdout and stderr are files, not pipes: RLIMIT_FSIZE caps them, and no reader thread is needed.
    with (
        open(base / "stdin", "rb") as stdin_file,
        open(base / "stdout", "wb") as out,
        open(base / "stderr", "wb") as err,
    ):
        supervisor = subprocess.Popen(
            [sys.executable, "-I", "-S", _LAUNCHER, json.dumps(config)],
            stdin=stdin_file,
            stdout=out,
            stderr=err,
            cwd=base,
            env=_ENV,
            start_new_session=True,
        )
    try:
        supervisor.wait(limits["timeout"] + _SUPERVISOR_GRACE)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if supervisor.poll() is None:  # hung, or we were interrupted: kill it and its process group
            os.killpg(supervisor.pid, signal.SIGKILL)  # the group id cannot be reused while it is unreaped
            supervisor.wait()
    try:
        report = json.loads((base / "report.json").read_text())
    except (OSError, ValueError):
        report = {"setup_error": f"the supervisor left no report (exit status {supervisor.returncode})"}
    status = report.get("wait_status")
    return SandboxResult(
        stdout=_head(base / "stdout", limits["file_size_mb"] * 1024 * 1024),
        stderr=_tail(base / "stderr", _STDERR_KEEP_CHARS),
        returncode=os.waitstatus_to_exitcode(status) if status is not None else None,
        timed_out=bool(report.get("timed_out")),
        isolated=isolate,
        error=report.get("setup_error"),
    )


@functools.cache
def _readonly_paths() -> tuple[str, ...]:
    """System directories and the interpreter's, outermost first, each shown once."""
    candidates = set(_SYSTEM_PATHS)
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        candidates.update({prefix, os.path.realpath(prefix)})
    candidates.add(os.path.dirname(os.path.realpath(sys.executable)))
    chosen: list[str] = []
    for path in sorted(path.rstrip("/") for path in candidates):
        inside_chosen = any(path == done or path.startswith(done + "/") for done in chosen)
        if path and not inside_chosen and os.path.lexists(path):
            chosen.append(path)
    return tuple(chosen)


def _program_ids() -> tuple[int, int]:
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    except KeyError:
        return _NOBODY, _NOBODY


def _head(path: Path, size: int) -> str:
    """At most `size` bytes: a program run unisolated by root can lift its own RLIMIT_FSIZE."""
    with open(path, "rb") as file:
        return file.read(size).decode(errors="replace")


def _tail(path: Path, chars: int) -> str:
    with open(path, "rb") as file:
        file.seek(max(0, os.fstat(file.fileno()).st_size - 4 * chars))  # UTF-8 takes at most 4 bytes a char
        return file.read().decode(errors="replace")[-chars:]


def _remove_tree(path: Path) -> None:
    def make_writable_and_retry(function, failed_path, _exc_info):
        try:
            os.chmod(os.path.dirname(failed_path), 0o700)  # a program may have made its directory read-only
            function(failed_path)
        except OSError:
            pass

    shutil.rmtree(path, onerror=make_writable_and_retry)
