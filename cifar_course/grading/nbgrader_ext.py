"""nbgrader's executor, made to grade a notebook as far as it got when its kernel dies.

Stock nbgrader 0.9 drops the whole notebook when the kernel dies (``os._exit``,
a segfault, the memory limit). ``ExecuteToTheEnd`` keeps the cells that ran,
marks the cell that killed the kernel, and marks every later code cell as not
run, so that their tests score zero instead of passing with no output.
"""

from __future__ import annotations

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute


def _error(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message,
                        traceback=[f"{name}: {message}"])


class ExecuteToTheEnd(Execute):
    def preprocess(self, nb, resources=None, km=None):
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
            return cell, resources


def autograde_preprocessors() -> list:
    """nbgrader's own autograde pipeline, with ``ExecuteToTheEnd`` in place of ``Execute``."""
    from nbgrader.converters import Autograde

    default = Autograde.class_traits()["autograde_preprocessors"].default()
    return [ExecuteToTheEnd if step is Execute else step for step in default]
