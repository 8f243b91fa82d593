"""Each student's kernel in a sandbox: bubblewrap, or in a container of its own a user.

A graded notebook is untrusted code. Under the grader its kernel starts inside
``bwrap`` (Debian's ``bubblewrap``), in namespaces of its own, with no
capabilities, as ``nobody``. It sees:

- read-only: the system folders (``/usr``, ``/etc``, ...), this Python and its
  packages, the installed ``cifar_course``, and the grader's stand-in for
  CIFAR-10 (``stand_in.py``: the training split, and unused training images in
  place of the test set): never the real source or the decoded-data cache;
- writable: the lesson's own autograde folder (its working directory), the
  folder its hidden tests save their answers in, and a private ``/tmp``;
- nothing else: not the course folder (gradebook, submissions, hidden tests,
  feedback), not the instructor's checkout or home, not other students.

At most ``KERNEL_TASKS`` processes and threads run in it at once, where the
machine lets the grader make a ``pids`` cgroup (cgroup v1 or v2, as root):
``RLIMIT_NPROC`` cannot do this, since the kernel's processes count as the
grader's user, and root is exempt from it.

It has a network namespace of its own, holding only its own loopback: it
reaches no other kernel, no service on the machine and nothing outside. The
grader talks to it over Jupyter's IPC transport, through Unix sockets in a
folder made for that kernel alone (``SandboxedKernelManager``), which no
other student's kernel can see.

Containers (Gradescope's, most Kubernetes pods) commonly forbid the user
namespaces bubblewrap needs. There the container already keeps students
apart, and ``user`` keeps the kernel from the grader: the grader (root) starts
it as ``nobody`` with no capabilities (``setpriv``), in a home of its own; the
course folder is locked (``lock_down``: files only the grader reads, folders
nobody can list), the kernel owns only its working folder, its answers folder
and its sockets, and the real data and its cache must be unreadable to others
(checked before the first student). Every process of ``nobody`` is ended when
a kernel ends, so nothing it started outlives it: ``user`` is for a machine or
container that runs the grader alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

# The grader sets it for its workers from --sandbox ("bwrap" unless told "none");
# unset, as in a plain `nbgrader autograde`, kernels start unsandboxed.
SANDBOXES = ("bwrap", "user", "none")
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
NOBODY = "65534"
NOBODY_ID = int(NOBODY)
# Processes and threads one kernel may run at once: torch's and ipykernel's threads
# take a few dozen; a fork bomb is stopped far below what would hurt the machine.
KERNEL_TASKS = 128


class SandboxError(RuntimeError):
    """The sandbox the grader was asked for cannot be used here."""


def sandbox_kind() -> str:
    """The sandbox a worker's kernels start in (not under the grader: none, as in a plain
    nbgrader run)."""
    from ..config import current

    grader = current().grader
    kind = grader.sandbox if grader else "none"
    if kind not in SANDBOXES:
        raise SandboxError(f"sandbox {kind!r}: use one of {', '.join(SANDBOXES)}")
    return kind


def check_available(kind: str) -> None:
    """Raise ``SandboxError`` with the fix unless ``kind`` works on this machine."""
    if kind == "none":
        return
    if kind == "user":
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            raise SandboxError(
                "--sandbox user starts each kernel as nobody, which needs the grader to run as "
                "root with setpriv (util-linux). Fix: run it as root (as Gradescope's "
                "run_autograder is), or use --sandbox bwrap")
        with tempfile.TemporaryDirectory() as home:
            os.chmod(home, 0o777)
            probe = subprocess.run([*user_prefix(home), sys.executable, "-c",
                                    "import cifar_course, ipykernel"],
                                   capture_output=True, text=True)
        if probe.returncode != 0:
            raise SandboxError(
                f"under --sandbox user each kernel runs as nobody, who cannot run this Python "
                f"({sys.executable}: {probe.stderr.strip()[-300:]}). Fix: install the course "
                f"in a Python that others can read and run (not under /root)")
        return
    if shutil.which("bwrap") is None:
        raise SandboxError(
            "bubblewrap (bwrap) is not installed, and each student's kernel runs in it. Fix: "
            "`apt-get install bubblewrap` (Debian/Ubuntu), or grade with --sandbox none only "
            "for submissions you trust")
    probe = subprocess.run([*bwrap_prefix(writable=(), readable=readable_paths()), sys.executable,
                            "-c", "import cifar_course"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxError(
            f"bubblewrap is installed but cannot start a sandbox here ({probe.stderr.strip()}). "
            f"Fix: allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) "
            f"or run the grader as root; or grade with --sandbox none only for submissions you "
            f"trust")


def readable_paths() -> list[str]:
    """What a kernel must read: Python, its packages, the course package, and of the data
    only the grader's stand-in (``stand_in.py``): never the real source, keras' download or
    the decoded cache, which hold the test set."""
    from .. import __file__ as package_init
    from .stand_in import stand_in_path

    here = Path.cwd().resolve()
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(package_init).parent)}
    # sys.path holds the site-packages and any folder a .pth added; never the grader's cwd.
    paths.update(p for p in sys.path if p and Path(p).resolve() != here)
    if stand_in_path():
        paths.add(stand_in_path())
    return sorted(str(Path(p).resolve()) for p in paths if Path(p).exists())


def bwrap_prefix(writable, readable) -> list[str]:
    """The ``bwrap`` arguments before the kernel's command."""
    # No --new-session: jupyter_client interrupts the kernel through its process group
    # (the kernel already has no controlling terminal: it is started in a session of its own).
    command = ["bwrap", "--unshare-all", "--die-with-parent",
               "--cap-drop", "ALL", "--unshare-user", "--uid", NOBODY, "--gid", NOBODY]
    for folder in SYSTEM_FOLDERS:
        if os.path.islink(folder):
            command += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            command += ["--ro-bind", folder, folder]
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for device in sorted(Path("/dev").glob("nvidia*")):  # a GPU machine's devices
        command += ["--dev-bind", str(device), str(device)]
    for path in readable:
        command += ["--ro-bind", path, path]
    for path in writable:
        command += ["--bind", path, path]
    command += ["--remount-ro", "/"]  # the folders bwrap made for the binds, too
    settings, removed = kernel_environment("/tmp")
    # ipykernel polls for its parent by pid, which is not in its pid namespace;
    # --die-with-parent ends the kernel with the grader instead.
    for name in [*removed, "JPY_PARENT_PID"]:
        command += ["--unsetenv", name]
    for name, value in settings.items():
        command += ["--setenv", name, value]
    return command


def kernel_environment(home: str) -> tuple[dict, list]:
    """(variables to set, variables to remove) for a sandboxed kernel whose home is ``home``.

    Its data is the grader's stand-in alone (an absolute path), or none; its decoded-data
    cache, keras' and matplotlib's folders are in its own home.
    """
    from ..config import CACHE_ENV, DATA_ENV
    from .stand_in import stand_in_path

    settings = {"HOME": home, "TMPDIR": home, "MPLCONFIGDIR": f"{home}/matplotlib",
                "KERAS_HOME": f"{home}/.keras", CACHE_ENV: f"{home}/cifar-course-cache"}
    stand_in = stand_in_path()
    if stand_in:
        settings[DATA_ENV] = stand_in
    return settings, ([] if stand_in else [DATA_ENV])


def user_prefix(home: str) -> list[str]:
    """The command before the kernel's under ``--sandbox user``: as nobody, no capabilities,
    no new privileges, in the environment ``kernel_environment`` gives."""
    settings, removed = kernel_environment(home)
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
            "env", *(f"--unset={name}" for name in removed),
            *(f"{name}={value}" for name, value in settings.items())]


def give_to_kernel(path: str | Path) -> None:
    """Make ``path`` (a folder the grader made for one kernel) the kernel user's."""
    os.chown(path, NOBODY_ID, NOBODY_ID)


def others_can_read(path: str | Path) -> bool:
    """Whether a user other than the owner (and not in its group) can read ``path``."""
    import stat

    path = Path(path).resolve()
    for folder in path.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def refuse_readable(paths) -> None:
    """Under ``--sandbox user``: stop unless no other user can read ``paths`` (the real data
    and its decoded cache hold the test set), saying how to fix it."""
    exposed = [str(p) for p in paths if p and Path(p).exists() and others_can_read(p)]
    if exposed:
        raise SandboxError(
            f"under --sandbox user the kernel runs as nobody, and nobody can read "
            f"{', '.join(exposed)} (the test set). Fix: chmod -R go-rwx {' '.join(exposed)}")


def lock_down(course: Path) -> None:
    """Under ``--sandbox user``: nothing of the course is readable by others, its folders
    can be passed through but not listed, and what the grader writes from now on is so too
    (umask 066: files 0600, folders 0711)."""
    import stat

    for folder in Path(course).resolve().parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            raise SandboxError(
                f"under --sandbox user each kernel (nobody) works in a folder of the course, "
                f"but {folder} cannot be passed through by others. Fix: chmod o+x {folder}, or "
                f"keep the course in a folder others can pass through")
    os.umask(0o066)
    for root, folders, files in os.walk(course):
        os.chmod(root, (os.stat(root).st_mode & 0o700) | stat.S_IXGRP | stat.S_IXOTH)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & 0o700)


def end_kernel_user_processes() -> None:
    """Kill every process of the kernel user (``--sandbox user``: what a kernel started and
    left running, daemons included, must not outlive it)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = next(line.split()[1] for line in status.read_text().splitlines()
                       if line.startswith("Uid:"))
            if int(uid) == NOBODY_ID:
                os.kill(int(status.parent.name), signal.SIGKILL)
        except (OSError, StopIteration, ValueError):
            pass  # it ended meanwhile


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def task_limited_group(limit: int = KERNEL_TASKS) -> Path | None:
    """A new ``pids`` cgroup allowing ``limit`` tasks, or None where none can be made here."""
    import uuid

    name = f"cifar-course-kernel-{uuid.uuid4().hex[:12]}"
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        group = root / name
        try:
            if root == Path("/sys/fs/cgroup") and "pids" not in (
                    root / "cgroup.subtree_control").read_text().split():
                (root / "cgroup.subtree_control").write_text("+pids")
            group.mkdir()
        except OSError:
            continue
        try:
            (group / "pids.max").write_text(str(limit))
            return group
        except OSError:
            remove_group(group)
    return None


def remove_group(group: Path | None) -> None:
    if group is not None:
        try:
            group.rmdir()
        except OSError:
            pass  # a task still in it, or gone already


def in_group(group: Path | None, command: list[str]) -> list[str]:
    """``command``, started inside ``group`` (before it can start anything itself)."""
    if group is None:
        return command
    return ["/bin/sh", "-c", 'tasks="$1"; shift; echo $$ > "$tasks" && exec "$@"', "sh",
            str(group / "cgroup.procs"), *command]


class SandboxedKernelManager(AsyncKernelManager):
    """nbclient's kernel manager, starting the kernel in the worker's sandbox (``bwrap``
    or ``user``), reached over IPC.

    The kernel's five channels are Unix sockets in a folder of this kernel's own
    (bound into its sandbox), not loopback TCP ports that any process could join.
    """

    cwd: str | None = None

    def __init__(self, **kw):
        super().__init__(**kw)
        self.kind = sandbox_kind()
        self.sockets = tempfile.mkdtemp(prefix="cifar-course-kernel-")
        self.transport = "ipc"
        self.ip = str(Path(self.sockets) / "kernel")
        # Beside the sockets: the kernel reads it, and under ``user`` it cannot reach
        # the grader's runtime folder.
        self.connection_file = str(Path(self.sockets) / "connection.json")
        self.tasks = task_limited_group()

    async def start_kernel(self, **kw):
        self.cwd = kw.get("cwd")  # the notebook's folder: the kernel's only writable one
        return await super().start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        from ..config import current

        command = super().format_kernel_cmd(extra_arguments)
        cwd = str(Path(self.cwd or os.getcwd()).resolve())
        grader = current().grader
        writable = [cwd, self.sockets] + ([grader.answers] if grader and grader.answers else [])
        if self.kind == "user":
            home = Path(self.sockets) / "home"
            home.mkdir(exist_ok=True)
            for path in [*writable, home, self.connection_file]:
                give_to_kernel(path)
            return in_group(self.tasks, [*user_prefix(str(home)), *command])
        readable = [*readable_paths(), os.path.realpath(self.connection_file)]
        return in_group(self.tasks, [*bwrap_prefix(writable, readable), "--chdir", cwd, *command])

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            if self.kind == "user":
                end_kernel_user_processes()
            shutil.rmtree(self.sockets, ignore_errors=True)
            remove_group(self.tasks)

    async def interrupt_kernel(self) -> None:
        # A signal to bwrap's process group does not reach the processes in its pid
        # namespace (seen with bubblewrap 0.8): interrupt each of them directly.
        process = getattr(self.provisioner, "process", None)
        if process is None:
            return await super().interrupt_kernel()
        for pid in descendants(process.pid):
            try:
                if not Path(f"/proc/{pid}/exe").resolve().name.startswith("bwrap"):
                    os.kill(pid, signal.SIGINT)
            except (OSError, ProcessLookupError):
                pass  # it ended meanwhile
