"""The torch backend is chosen on import, and a wrong one gives a clear error."""

import os
import subprocess
import sys

from conftest import REPO


def run_python(code: str, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(env_changes)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)


def test_import_selects_torch_when_unset():
    done = run_python("import cifar_course, keras; print(keras.backend.backend())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("torch")


def test_other_backend_in_environment_is_refused_with_the_fix():
    done = run_python("import cifar_course", KERAS_BACKEND="jax")
    assert done.returncode != 0
    assert "BackendError" in done.stderr and "KERAS_BACKEND=torch" in done.stderr


def test_keras_already_imported_on_another_backend_is_refused():
    # Stands in for a notebook where keras was imported on TensorFlow first
    # (TensorFlow and JAX are not installed here).
    fake_keras = ("import sys, types; keras = types.ModuleType('keras'); "
                  "keras.backend = types.SimpleNamespace(backend=lambda: 'tensorflow'); "
                  "sys.modules['keras'] = keras; import cifar_course")
    done = run_python(fake_keras, KERAS_BACKEND="tensorflow")
    assert done.returncode != 0
    assert "already imported with the 'tensorflow' backend" in done.stderr
    assert "restart" in done.stderr


def test_keras_imported_first_on_torch_is_fine():
    done = run_python("import keras; import cifar_course; print('ok')", KERAS_BACKEND="torch")
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
