"""Three changes to nbgrader's autograde pipeline.

Stock nbgrader 0.9 drops the whole notebook when the kernel dies (``os._exit``,
a segfault, the memory limit). ``ExecuteToTheEnd`` keeps the cells that ran,
marks the cell that killed the kernel, and marks every later code cell as not
run, so that their tests score zero instead of passing with no output. A cell
that times out and ignores the interrupt gets the kernel restarted, so that the
cells after it still run. Under the grader the kernel starts in a sandbox
(``sandbox.py``).

nbgrader also scores zero any test cell that wrote to stderr, so a library's
warning (keras, torch, numpy) in a test cell would cost a correct submission
its points. The course's tests fail by raising, so ``WarningsAreNotFailures``
moves what graded cells wrote to stderr into stdout (the text stays, for the
feedback) before the grades are taken.

The kernel runs the student's code, so nothing it reports can be trusted:
``DecideHiddenTests`` decides every hidden test in the grader's process, from
the answers the notebook saved, and replaces what the kernel showed in the
test cell with that verdict.
"""

from __future__ import annotations

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution


def _error(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message,
                        traceback=[f"{name}: {message}"])


class ExecuteToTheEnd(Execute):
    def preprocess(self, nb, resources=None, km=None):
        from .sandbox import SandboxedKernelManager, sandbox_kind

        if sandbox_kind() == "bwrap":
            self.kernel_manager_class = SandboxedKernelManager
        self._died_in = None
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            if self._died_in is None:
                raise
            return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._died_in is not None:
            cell.outputs = [_error("KernelDied", f"not run: the kernel died in cell {self._died_in}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._died_in = index
            cell.outputs.append(_error(
                "KernelDied", "the kernel died while running this cell (os._exit, a crash, or "
                              "the grader's memory limit)"))
        except CellTimeoutError:
            # Timed out, interrupted, and still running: the interrupt was ignored.
            # The kernel would hold every later cell until its timeout too.
            run_sync(self.km.restart_kernel)(now=True)
            cell.outputs.append(_error(
                "CellTimeoutError", f"this cell ran past the {self.timeout} s timeout and ignored "
                                    f"the interrupt, so the kernel was restarted: the cells after "
                                    f"it run in a fresh kernel, without what earlier cells defined"))
        return cell, resources


class WarningsAreNotFailures(NbGraderPreprocessor):
    """Graded cells' stderr becomes stdout: only an error fails a test cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


class DecideHiddenTests(NbGraderPreprocessor):
    """Decide each graded test cell's hidden checks here, from the answers the notebook saved.

    A test cell whose source (nbgrader restored it from the gradebook) calls
    ``run_isolated`` is scored by those calls alone: the check name and the
    pinned references digest are read from the source, the answer from
    ``$CIFAR_COURSE_ANSWERS``, and the verdict comes from a fresh process. The
    kernel's errors in that cell are dropped (its own visible checks could
    have been faked either way); its printed text stays for the feedback.
    """

    def preprocess(self, nb, resources):
        import os
        from pathlib import Path

        from .isolated import ANSWERS_ENV, answer_folder, decide, hidden_checks

        root = os.environ.get(ANSWERS_ENV)
        if not root:
            return nb, resources
        seen: dict = {}
        for cell in nb.cells:
            if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
                continue
            try:
                calls = hidden_checks(cell.source)
            except SyntaxError:
                continue
            if not calls:
                continue
            raised = "; ".join(f"{o.ename}: {o.evalue}" for o in cell.get("outputs", [])
                               if o.output_type == "error")
            verdicts = []
            for call in calls:
                occurrence = seen.get(call["check"], 0)
                seen[call["check"]] = occurrence + 1
                request = answer_folder(Path(root), call["check"], occurrence) / "request.json"
                if not request.is_file():
                    verdicts.append((False, f"{call['check']}: no answer was saved (the cells "
                                            f"above, or this one, stopped before the hidden test "
                                            f"ran)" + (f"; the cell raised {raised}" if raised
                                                       else "; see the errors above")))
                    continue
                verdicts.append(decide(request, call["check"], call["references_sha256"],
                                       call["timeout"], environment=dict(os.environ),
                                       literals=call["literals"]))
            kept = [o for o in cell.get("outputs", []) if o.output_type != "error"]
            failed = [message for passed, message in verdicts if not passed]
            if failed:
                kept.append(_error("AssertionError", "\n".join(failed)))
            else:
                text = "\n".join(m for _, m in verdicts if m) or "passed"
                kept.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"[grader] {text}\n"))
            cell.outputs = kept
        return nb, resources


def autograde_preprocessors() -> list:
    """nbgrader's own autograde pipeline, executing with ``ExecuteToTheEnd``, then
    ``WarningsAreNotFailures`` and ``DecideHiddenTests``."""
    from nbgrader.converters import Autograde

    steps = []
    for step in Autograde.class_traits()["autograde_preprocessors"].default():
        if step is Execute:
            steps += [ExecuteToTheEnd, WarningsAreNotFailures, DecideHiddenTests]
        else:
            steps.append(step)
    return steps


def lost_points(notebook) -> dict:
    """grade_id -> (score, max points) for each test cell of an executed notebook that the
    course's autograde would not give full points (nbgrader's rule after the steps above)."""
    from copy import deepcopy

    from nbgrader.utils import determine_grade, is_solution

    lost = {}
    for cell in deepcopy(notebook).cells:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            continue
        WarningsAreNotFailures().preprocess_cell(cell, {}, 0)
        score, maximum = determine_grade(cell)
        if score != maximum:
            lost[cell.metadata.nbgrader["grade_id"]] = (score, maximum)
    return lost


def feedback_preprocessors() -> list:
    """nbgrader's feedback pipeline with the hidden tests' source removed first (their
    verdicts stay in the cell outputs)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import ClearHiddenTests

    return [ClearHiddenTests, *GenerateFeedback.class_traits()["preprocessors"].default()]
