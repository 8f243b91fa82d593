"""Each student's kernel in a bubblewrap sandbox.

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
SANDBOX_ENV = "CIFAR_COURSE_SANDBOX"
SANDBOXES = ("bwrap", "none")
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
NOBODY = "65534"
# Processes and threads one kernel may run at once: torch's and ipykernel's threads
# take a few dozen; a fork bomb is stopped far below what would hurt the machine.
KERNEL_TASKS = 128


class SandboxError(RuntimeError):
    """The sandbox the grader was asked for cannot be used here."""


def sandbox_kind() -> str:
    """The sandbox a worker's kernels start in (unset: none, as in a plain nbgrader run)."""
    kind = os.environ.get(SANDBOX_ENV, "none")
    if kind not in SANDBOXES:
        raise SandboxError(f"{SANDBOX_ENV}={kind!r}: use one of {', '.join(SANDBOXES)}")
    return kind


def check_available(kind: str) -> None:
    """Raise ``SandboxError`` with the fix unless ``kind`` works on this machine."""
    if kind == "none":
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
    from .stand_in import STAND_IN_ENV

    here = Path.cwd().resolve()
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(package_init).parent)}
    # sys.path holds the site-packages and any folder a .pth added; never the grader's cwd.
    paths.update(p for p in sys.path if p and Path(p).resolve() != here)
    if os.environ.get(STAND_IN_ENV):
        paths.add(os.environ[STAND_IN_ENV])
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
    # ipykernel polls for its parent by pid, which is not in its pid namespace;
    # --die-with-parent ends the kernel with the grader instead.
    from ..data.loading import CACHE_ENV, DATA_ENV
    from .stand_in import STAND_IN_ENV

    # The kernel's data is the stand-in alone (absolute: it cannot see the grader's folders);
    # its decoded-data cache is private to its /tmp.
    command += ["--setenv", CACHE_ENV, "/tmp/cifar-course-cache"]
    if os.environ.get(STAND_IN_ENV):
        command += ["--setenv", DATA_ENV, str(Path(os.environ[STAND_IN_ENV]).resolve())]
    else:
        command += ["--unsetenv", DATA_ENV]
    command += ["--remount-ro", "/"]  # the folders bwrap made for the binds, too
    command += ["--unsetenv", "JPY_PARENT_PID", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
                "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib", "--setenv", "KERAS_HOME", "/tmp/.keras"]
    return command


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
    """nbclient's kernel manager, starting the kernel inside ``bwrap``, reached over IPC.

    The kernel's five channels are Unix sockets in a folder of this kernel's own
    (bound into its sandbox), not loopback TCP ports that any process could join.
    """

    cwd: str | None = None

    def __init__(self, **kw):
        super().__init__(**kw)
        self.sockets = tempfile.mkdtemp(prefix="cifar-course-kernel-")
        self.transport = "ipc"
        self.ip = str(Path(self.sockets) / "kernel")
        self.tasks = task_limited_group()

    async def start_kernel(self, **kw):
        self.cwd = kw.get("cwd")  # the notebook's folder: the kernel's only writable one
        return await super().start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        from .isolated import ANSWERS_ENV

        command = super().format_kernel_cmd(extra_arguments)
        cwd = str(Path(self.cwd or os.getcwd()).resolve())
        writable = [cwd, self.sockets] + (
            [os.environ[ANSWERS_ENV]] if os.environ.get(ANSWERS_ENV) else [])
        readable = [*readable_paths(), os.path.realpath(self.connection_file)]
        return in_group(self.tasks, [*bwrap_prefix(writable, readable), "--chdir", cwd, *command])

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
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
