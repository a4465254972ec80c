"""The child side of `r1recipes.rewards.sandbox`: `python -I -S _sandbox_launcher.py CONFIG_JSON`.

It runs once per sandboxed program, so it imports only a handful of stdlib modules (the parent module's imports
would add ~30 ms to every run), and it is trusted code: it sets the jail up, then replaces itself with the
untrusted program. Three processes, like bubblewrap's:

- the supervisor (this script) enforces the wall-clock deadline and writes a JSON report for the parent;
- with namespaces, an init process, pid 1 of a private PID namespace, builds the filesystem the program sees,
  reaps orphans, and on exit takes every process of the namespace with it (the kernel kills them), so a
  program that daemonizes or calls setsid() cannot outlive its run;
- the program itself, exec'd with resource limits, no capabilities, and (with namespaces) a chroot into a
  tmpfs that holds only read-only system and Python directories and a small writable tmpfs work directory.

Namespaces are entered with libc's unshare(2) through ctypes here rather than in a subprocess preexec_fn:
preexec_fn is unsafe in a threaded parent (the reward runs in a thread pool inside a trainer), and this script
is a fresh single-threaded process, where unshare and fork are safe. It also spares a dependency on the flags of
util-linux's `unshare` binary, which varies across distributions.
"""

import ctypes
import json
import os
import re
import resource
import select
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4

# statvfs f_flag bits (Linux's values, spelled out: `os.ST_RELATIME` exists only on Linux) -> mount flags.
# A read-only remount inside a user namespace must repeat the flags the kernel locked on the original mount
# (nosuid, nodev, noexec, atime), or it fails with EPERM.
_KEPT_MOUNT_FLAGS = (
    (2, MS_NOSUID),
    (4, MS_NODEV),
    (8, MS_NOEXEC),
    (1024, MS_NOATIME),
    (2048, MS_NODIRATIME),
    (4096, MS_RELATIME),
)
_ST_RDONLY = 1
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_DEVICE_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}
_MAX_OPEN_FILES = 256

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text):
        return text.encode() if text is not None else None

    result = _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))
    _check(result, f"mount {source or ''} on {target}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _enter_own_user_namespace() -> None:
    """A user namespace that maps only our own uid and gid: full capabilities over namespaces created with it,
    none over the host's; the kernel counts RLIMIT_NPROC per user namespace (Linux >= 5.14)."""
    uid, gid = os.geteuid(), os.getegid()
    _unshare(CLONE_NEWUSER)
    _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _mount_points_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as file:
        points = [re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), line.split()[4]) for line in file]
    return [point for point in points if point == path or point.startswith(path + "/")]


def _bind_readonly(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    for point in _mount_points_under(target):
        host_flags = os.statvfs(point).f_flag
        kept = sum(mount_flag for stat_flag, mount_flag in _KEPT_MOUNT_FLAGS if host_flags & stat_flag)
        _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)
    if not os.statvfs(target).f_flag & _ST_RDONLY:  # fail closed, whatever went unnoticed above
        raise OSError(f"{target} is still writable after its read-only remount")


def _expose(path: str, root: str) -> None:
    """Show host `path` at the same place under `root`: symlinks copied, directories and files bound read-only."""
    inside = root + path
    os.makedirs(os.path.dirname(inside), mode=0o755, exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), inside)
    elif os.path.isdir(path):
        os.makedirs(inside, mode=0o755, exist_ok=True)
        _bind_readonly(path, inside)
    elif os.path.exists(path):
        open(inside, "w").close()
        _bind_readonly(path, inside)


def _build_root(config: dict) -> int:
    """The filesystem the program sees, built on a tmpfs mounted over `config['root']`; returns an fd to it."""
    root, workdir = config["root"], config["workdir"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here may propagate to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    uid, gid = config["program_ids"]
    size = f"size={config['file_size_mb']}m,nr_inodes=4096"
    # /tmp is a throwaway tmpfs of its own, mounted before the read-only paths: an interpreter that lives under
    # /tmp (a venv in a fresh clone there) is then shown inside it.
    os.mkdir(root + "/tmp")
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode=1777")
    for path in config["readonly_paths"]:
        _expose(path, root)
    os.makedirs(root + "/dev", mode=0o755, exist_ok=True)
    for device in _DEVICES:
        if os.path.exists(device):
            open(root + device, "w").close()
            _mount(device, root + device, None, MS_BIND)
    for name, target in _DEVICE_LINKS.items():
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/proc", 0o555)
    try:
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass  # refused where the host's /proc is partly masked (containers); Python runs without it
    os.makedirs(root + workdir, mode=0o755)
    _mount("tmpfs", root + workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode=0700,uid={uid},gid={gid}")
    with open(config["program"], "rb") as source, open(root + workdir + "/" + config["program_name"], "wb") as copy:
        copy.write(source.read())
    os.chmod(root + workdir + "/" + config["program_name"], 0o644)
    _mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY)


def _limit_resources(config: dict) -> None:
    mib = 1024 * 1024
    cpu = config["cpu_seconds"]
    for limit, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),  # SIGXCPU at the soft limit, SIGKILL a second later
        (resource.RLIMIT_AS, (config["memory_mb"] * mib,) * 2),
        (resource.RLIMIT_FSIZE, (config["file_size_mb"] * mib,) * 2),  # caps stdout and stderr too: they are files
        (resource.RLIMIT_NPROC, (config["max_processes"],) * 2),
        (resource.RLIMIT_NOFILE, (_MAX_OPEN_FILES,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(limit, value)


def _become_program(config: dict, root_fd: int | None) -> None:
    """In the forked child: drop privileges, enter the jail, set the limits and exec the program."""
    if root_fd is None:
        os.setpgid(0, 0)  # without a PID namespace, the process group is what the supervisor kills
        workdir = config["host_workdir"]
    else:
        if os.geteuid() == 0:
            # Root is exempt from RLIMIT_NPROC and could write device nodes, so the program runs as nobody.
            uid, gid = config["program_ids"]
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            _prctl(PR_SET_DUMPABLE, 1)  # setuid made /proc/self root's; the uid_map write below needs it ours
        # A user namespace of the program's own: its RLIMIT_NPROC count starts at zero, and it holds no
        # capability over the mount namespace init built, so the read-only mounts stay read-only.
        _enter_own_user_namespace()
        os.fchdir(root_fd)
        os.chroot(".")  # also makes further user namespaces (a way to regain capabilities) EPERM
        workdir = config["workdir"]
    os.chdir(workdir)
    env = dict(config["env"], HOME=workdir, TMPDIR=workdir)
    _limit_resources(config)
    program = os.path.join(workdir, config["program_name"]) if root_fd is not None else config["program"]
    os.execve(config["python"], [config["python"], "-I", program], env)


def _spawn_program(config: dict, root_fd: int | None) -> int:
    """Fork the program; raise with the child's error when it fails before exec (a close-on-exec pipe)."""
    error_read, error_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(error_read)
            _become_program(config, root_fd)
        except BaseException as exc:
            os.write(error_write, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(127)
    os.close(error_write)
    with os.fdopen(error_read, "rb") as pipe:
        error = pipe.read().decode(errors="replace")
    if error:
        os.waitpid(pid, 0)
        raise RuntimeError(f"starting the program: {error}")
    return pid


def _run_init(config: dict, report_write: int) -> None:
    """Pid 1 of the sandbox's PID namespace; reports the program's wait status through `report_write`."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the supervisor killed -> init dies -> the namespace dies
        os.umask(0o022)
        program = _spawn_program(config, _build_root(config))
        while True:  # reap orphans until the program itself exits
            pid, status = os.waitpid(-1, 0)
            if pid == program:
                message = {"wait_status": status}
                break
    except BaseException as exc:
        message = {"setup_error": f"{type(exc).__name__}: {exc}"}
    os.write(report_write, json.dumps(message).encode())
    os._exit(0)


def _exited_within(pid: int, seconds: float) -> bool:
    """Whether `pid` exits within `seconds`; leaves it unreaped."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3, other systems): poll
        deadline = time.monotonic() + seconds
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True
    try:
        return bool(select.select([pidfd], [], [], max(seconds, 0.0))[0])
    finally:
        os.close(pidfd)


def _supervise(config: dict) -> dict:
    deadline = time.monotonic() + config["timeout"]
    if not config["isolate"]:
        program = _spawn_program(config, None)
        timed_out = not _exited_within(program, deadline - time.monotonic())
        os.killpg(program, signal.SIGKILL)  # leftovers too; the group cannot be reused while unreaped
        status = os.waitpid(program, 0)[1]
        return {"timed_out": True} if timed_out else {"wait_status": status}

    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() == 0:
        _unshare(flags)
    else:
        _enter_own_user_namespace()
        _unshare(flags)
    report_read, report_write = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(report_read)
        _run_init(config, report_write)
    os.close(report_write)
    timed_out = not _exited_within(init, deadline - time.monotonic())
    if timed_out:
        os.kill(init, signal.SIGKILL)
    os.waitpid(init, 0)  # returns once the kernel has killed and reaped the whole PID namespace
    with os.fdopen(report_read, "rb") as pipe:
        report = pipe.read()
    if timed_out:
        return {"timed_out": True}
    return json.loads(report) if report else {"setup_error": "init exited without a report"}


def main(config: dict) -> None:
    try:
        report = _supervise(config)
    except BaseException as exc:
        report = {"setup_error": f"{type(exc).__name__}: {exc}"}
    _write(config["report"], json.dumps(report))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
