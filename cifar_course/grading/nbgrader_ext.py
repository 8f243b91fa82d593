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
``ExecuteToTheEnd`` empties the kernel's answers folder before each hidden-test
cell and seals what that cell saved when it ends (``contract.py``), and
``DecideHiddenTests`` decides every hidden test of the notebook in one checker
process of the grader's, from the sealed answers and the hidden tests' source as
the gradebook holds it. A test cell that raised scores zero.
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


def _hidden_test_id(cell) -> str | None:
    """The grade_id of a graded test cell whose (gradebook) source calls ``run_isolated``."""
    from .contract import hidden_calls

    if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
        return None
    try:
        return cell.metadata.nbgrader["grade_id"] if hidden_calls(cell.source) else None
    except SyntaxError:
        return None


def _answer_folders() -> tuple | None:
    """(the kernel's answers folder, the grader's sealed folder), under the grader only."""
    from pathlib import Path

    from ..config import current

    grader = current().grader
    root = grader.answers if grader else None
    return (Path(root), Path(root).parent / "sealed") if root else None


class ExecuteToTheEnd(Execute):
    def preprocess(self, nb, resources=None, km=None):
        from .sandbox import SandboxedKernelManager, sandbox_kind

        if sandbox_kind() != "none":
            self.kernel_manager_class = SandboxedKernelManager
        if _answer_folders():  # under the grader: DecideHiddenTests' checker, started now
            from ..config import current
            from .checker import start_early
            from .isolated import scrubbed_environment

            start_early(scrubbed_environment(current()))
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
        folders, grade_id = _answer_folders(), _hidden_test_id(cell)
        if folders and grade_id:
            from .contract import clear

            clear(folders[0])  # what the kernel wrote before this cell never counts
        try:
            return self._execute(cell, resources, index)
        finally:
            if folders and grade_id:
                from .contract import seal, sealed_folder

                refused = seal(folders[0], sealed_folder(folders[1], grade_id))
                resources.setdefault("refused_answers", {})[grade_id] = refused

    def _execute(self, cell, resources, index):
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
    """Decide every hidden test of the notebook at once, in the grader's checker process.

    A test cell whose source (nbgrader restored it from the gradebook) calls
    ``run_isolated`` is scored by those calls alone: the checks, their literals
    and the pinned references digest are read from the source, the answers from
    the folder sealed when that cell ended, and the grader's settings (profile)
    from the grader. A cell that raised in the kernel, or left no answer,
    scores zero; its printed text stays for the feedback.
    """

    def preprocess(self, nb, resources):
        from ..config import current
        from .checker import decide_all
        from .isolated import scrubbed_environment
        from .contract import ContractError, hidden_calls, read_answer, sealed_folder

        folders = _answer_folders()
        if not folders:
            return nb, resources
        refusals = resources.get("refused_answers", {})
        entries, plan, timeout = [], [], 0.0
        for cell in nb.cells:
            grade_id = _hidden_test_id(cell)
            if grade_id is None:
                continue
            raised = "; ".join(f"{o.ename}: {o.evalue}" for o in cell.get("outputs", [])
                               if o.output_type == "error")
            failures, indices, seen = [], [], {}
            if raised:
                failures.append(f"this test cell raised ({raised}), so its hidden tests score "
                                f"nothing")
            elif refusals.get(grade_id):
                failures.append("the answers saved in this cell held what the grader does not "
                                "accept: " + "; ".join(refusals[grade_id]))
            else:
                for call in hidden_calls(cell.source):
                    occurrence = seen.get(call.check, 0)
                    seen[call.check] = occurrence + 1
                    folder = sealed_folder(folders[1], grade_id) / f"{call.check}-{occurrence}"
                    try:
                        arguments = read_answer(folder, call)
                    except ContractError as error:
                        failures.append(str(error))
                        continue
                    indices.append(len(entries))
                    timeout += call.timeout
                    entries.append({"check": call.check, "arguments": arguments,
                                    "literals": call.literals,
                                    "references_sha256": call.references_sha256})
            plan.append((cell, indices, failures))
        config = current()
        settings = {"profile": config.profile_name(), "under_grader": True}
        verdicts = decide_all(entries, settings, environment=scrubbed_environment(config),
                              timeout=timeout)
        for cell, indices, failures in plan:
            mine = [verdicts[i] for i in indices]
            failed = failures + [message for passed, message in mine if not passed]
            kept = [o for o in cell.get("outputs", []) if o.output_type != "error"]
            if failed:
                kept.append(_error("AssertionError", "\n".join(failed)))
            else:
                text = "\n".join(m for _, m in mine if m) or "passed"
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


def feedback_preprocessors() -> list:
    """nbgrader's feedback pipeline with the hidden tests' source removed first (their
    verdicts stay in the cell outputs)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import ClearHiddenTests

    return [ClearHiddenTests, *GenerateFeedback.class_traits()["preprocessors"].default()]
