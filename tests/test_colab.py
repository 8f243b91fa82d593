"""Every lesson on Colab's package versions, through its real first cell (the Colab job).

Runs only where TensorFlow is installed, as on Colab (`.ci/compat` installs
`.ci/colab-versions.txt`), so that keras would choose TensorFlow if the lesson
did not set the backend first. The kernel gets no KERAS_BACKEND.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import nbformat
import pytest

from notebooks import LESSON_IDS, SOLUTIONS

# Looked up, not imported: TensorFlow loaded into this process beside torch crashed it.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="the Colab job installs TensorFlow (.ci/colab-versions.txt)")


def test_keras_would_choose_tensorflow_here():
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", "import keras; print(keras.backend.backend())"],
                          capture_output=True, text=True, env=environment, cwd="/")
    assert done.stdout.strip() == "tensorflow", done.stderr[-1000:]


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_the_solution_runs_through_its_first_cell_on_torch(lesson, tmp_path):
    from nbclient import NotebookClient

    notebook = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import keras, IPython\nprint('BACKEND', keras.backend.backend(), 'IPYTHON', IPython.__version__)"))
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    environment["CIFAR_COURSE_PROFILE"] = "smoke"
    NotebookClient(notebook, timeout=900, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=environment)
    errors = [(i, o.ename, o.evalue[:300]) for i, c in enumerate(notebook.cells)
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert "BACKEND torch" in printed, printed
    if os.environ.get("CIFAR_COURSE_COLAB_IPYTHON"):  # the Colab job: Colab's IPython itself
        assert f"IPYTHON {os.environ['CIFAR_COURSE_COLAB_IPYTHON']}" in printed, printed
