"""The grading contract: slots from the hidden test's source, sealed answers, student ids,
one grader per course, one checker process per notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import pytest

from cifar_course.grading import autograde
from cifar_course.grading.contract import (ContractError, HiddenCall, clear, hidden_calls,
                                           next_answer_folder, read_answer, seal, sealed_folder)
from cifar_course.grading.isolated import decide, save_answer

SOURCE = '''
from cifar_course.grading.isolated import run_isolated
run_isolated("check_test_accuracy", model=model, stage='baseline', profile=my_profile,
             references_sha256="abab", timeout=my_timeout)
run_isolated("check_label_smoothing_loss", loss=make_loss(0.1), smoothing=0.1)
'''


def test_the_source_names_the_slots_and_fixes_the_literals():
    accuracy, smoothing = hidden_calls(SOURCE)
    assert accuracy.check == "check_test_accuracy" and accuracy.slots == ("model",)
    # The grader owns the profile: neither a slot nor a literal, even if the source names it.
    assert accuracy.literals == {"stage": "baseline"} and accuracy.references_sha256 == "abab"
    assert smoothing.slots == ("loss",) and smoothing.literals == {"smoothing": 0.1}


def test_an_answer_sets_only_its_slots(tmp_path):
    call = HiddenCall("check_label_smoothing_loss", 1, slots=("loss",), literals={"smoothing": 0.1})
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    folder = tmp_path / "check_label_smoothing_loss-0"
    save_answer(call.check, {"loss": loss}, folder)
    assert set(read_answer(folder, call)) == {"loss"}
    # What the source fixes stays the source's: the answer's copy is ignored...
    request = json.loads((folder / "request.json").read_text())
    forged = {"smoothing": {"value": {"plain": 0.0}}}
    (folder / "request.json").write_text(json.dumps(
        {**request, "arguments": {**request["arguments"], **forged}}))
    assert set(read_answer(folder, call)) == {"loss"}
    # ...and what the grader owns, or the source does not name, is refused.
    for forged in ({"profile": {"value": {"plain": "smoke"}}}, {"data": {"value": {"plain": 1}}},
                   {"references": {"value": {"plain": 1}}}):
        (folder / "request.json").write_text(json.dumps(
            {**request, "arguments": {**request["arguments"], **forged}}))
        with pytest.raises(ContractError, match="does not take from the notebook"):
            read_answer(folder, call)
    (folder / "request.json").write_text(json.dumps({**request, "check": "check_adamw"}))
    with pytest.raises(ContractError, match="not 'check_label_smoothing_loss'"):
        read_answer(folder, call)


def test_a_model_is_the_file_beside_the_answer_never_a_path(tmp_path):
    call = HiddenCall("check_baseline_structure", 1, slots=("model",))
    folder = tmp_path / "answer"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    save_answer(call.check, {"model": model}, folder)
    assert read_answer(folder, call)["model"] == {"model": str(folder / "model.keras")}
    # The request names another student's file: the grader reads only its own copy.
    elsewhere = tmp_path / "classmate.keras"
    (folder / "model.keras").rename(elsewhere)
    request = json.loads((folder / "request.json").read_text())
    request["arguments"]["model"] = {"model": str(elsewhere)}
    (folder / "request.json").write_text(json.dumps(request))
    with pytest.raises(ContractError, match="was not saved with the answer"):
        read_answer(folder, call)
    (folder / "model.keras").symlink_to(elsewhere)
    with pytest.raises(ContractError, match="was not saved with the answer"):
        read_answer(folder, call)


def test_sealing_keeps_regular_files_refuses_links_and_freezes_the_answer(tmp_path):
    kernel, sealed = tmp_path / "kernel", tmp_path / "sealed"
    clear(kernel)
    answer = next_answer_folder(kernel, "check_x")
    answer.mkdir()
    assert next_answer_folder(kernel, "check_x").name == "check_x-1"
    (answer / "request.json").write_text('{"check": "check_x"}')
    secret = tmp_path / "gradebook.db"
    secret.write_text("secret")
    (answer / "x.keras").symlink_to(secret)
    held = os.open(answer, os.O_RDONLY)  # a kernel process holding the folder open
    try:
        refused = seal(kernel, sealed_folder(sealed, "test_x"))
        assert refused == ["check_x-0/x.keras: not a regular file (a link?)"]
        assert sorted(p.name for p in (sealed / "test_x" / "check_x-0").iterdir()) == ["request.json"]
        assert list(kernel.iterdir()) == []  # emptied for the next cell
        # A write through the held folder after the cell ended changes nothing sealed.
        with pytest.raises(FileNotFoundError):
            os.open("request.json", os.O_WRONLY | os.O_CREAT, dir_fd=held)
    finally:
        os.close(held)
    assert (sealed / "test_x" / "check_x-0" / "request.json").read_text() == '{"check": "check_x"}'
    with pytest.raises(ContractError):
        sealed_folder(sealed, "..")


def test_one_checker_decides_several_checks_with_the_graders_settings(tmp_path):
    from cifar_course.grading.checker import decide_all
    from cifar_course.config import RunConfig
    from cifar_course.grading.isolated import scrubbed_environment

    right = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    call = HiddenCall("check_label_smoothing_loss", 1, slots=("loss",), literals={"smoothing": 0.1})
    save_answer(call.check, {"loss": right}, tmp_path / "a")
    entry = {"check": call.check, "arguments": read_answer(tmp_path / "a", call),
             "literals": call.literals, "references_sha256": None}
    wrong = {**entry, "literals": {"smoothing": 0.2}}
    unknown = {**entry, "check": "not_a_check"}
    verdicts = decide_all([entry, wrong, unknown], {"profile": "smoke", "under_grader": True},
                          environment=scrubbed_environment(RunConfig.from_environment()),
                          timeout=300)
    assert verdicts[0][0] and not verdicts[1][0] and "want 0.2" in verdicts[1][1]
    assert not verdicts[2][0] and "no check named" in verdicts[2][1]
    assert decide(tmp_path / "a" / "request.json", call)[0]


def test_the_checker_started_while_the_notebook_runs_decides_its_tests(tmp_path):
    """The grader starts the notebook's checker before executing it (its imports overlap
    the notebook); decide_all takes that process, and only in the environment it needs."""
    from cifar_course.config import RunConfig
    from cifar_course.grading import checker
    from cifar_course.grading.isolated import scrubbed_environment

    environment = scrubbed_environment(RunConfig.from_environment())
    call = HiddenCall("check_label_smoothing_loss", 1, slots=("loss",), literals={"smoothing": 0.1})
    save_answer(call.check, {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=0.1)},
                tmp_path)
    entry = {"check": call.check, "arguments": read_answer(tmp_path, call),
             "literals": call.literals, "references_sha256": None}
    settings = {"profile": "smoke", "under_grader": True}
    checker.start_early(environment)
    early = checker._started
    assert checker.decide_all([entry], settings, environment=environment, timeout=300)[0][0]
    assert early._batches == 1 and not early.alive  # it decided, then was closed
    assert checker._started is None
    checker.start_early({**environment, "CIFAR_COURSE_PROFILE": "quick"})
    other = checker._started
    assert checker.decide_all([entry], settings, environment=environment, timeout=300)[0][0]
    assert other._batches == 0 and not other.alive  # another environment's: closed unused


def test_a_loss_or_optimizer_is_judged_by_what_the_students_object_did(tmp_path):
    """The checker rebuilds a loss or an optimizer from its config, which may name keras'
    class for the student's own and carries no exclusions from weight decay: the verdict
    comes from what the student's object did, measured in the kernel (issue 32)."""
    from wrong_answers import _adamw, _loss_claiming_smoothing

    cases = [("check_label_smoothing_loss", "loss", _loss_claiming_smoothing(), 0.1, False),
             ("check_label_smoothing_loss", "loss",
              keras.losses.CategoricalCrossentropy(label_smoothing=0.1), 0.1, True),
             ("check_adamw", "optimizer", _adamw(excluded=()), 0.05, False),
             ("check_adamw", "optimizer", _adamw(), 0.05, True)]
    for index, (check, slot, value, setting, right) in enumerate(cases):
        literal = "smoothing" if slot == "loss" else "weight_decay"
        call = HiddenCall(check, 1, slots=(slot,), literals={literal: setting})
        request = save_answer(check, {slot: value}, tmp_path / str(index))
        passed, message = decide(request, call)
        assert passed == right, (check, value, message)


def test_a_training_loop_is_judged_by_what_it_did_to_the_checks_own_model(tmp_path):
    """The hidden test hands over what the student's train_baseline did to a small model and
    data of the check's own (build item 3), not the lesson's model or history: the checker
    decides from that, and the function is never called there."""
    from wrong_answers import _train

    call = HiddenCall("check_training_loop", 1, slots=("train",))
    for index, (train, right) in enumerate([(_train(), True), (_train(optimizer="adamw"), False),
                                            (_train(batch_size=32), False)]):
        request = save_answer(call.check, {"train": train}, tmp_path / str(index))
        saved = json.loads(request.read_text())["arguments"]["train"]
        assert set(saved) == {"training"} and set(saved["training"]) == {"one_step", "epochs"}
        passed, message = decide(request, call)
        assert passed == right, message


def test_a_kernels_hidden_tests_share_one_checker_that_a_timeout_replaces(tmp_path):
    """Outside the grader, run_isolated decides in one checker process per kernel (as the
    grader decides a notebook in one): reused while it lives, started anew once a batch
    outran its timeout (which ends it) or the environment changed."""
    from cifar_course.config import RunConfig
    from cifar_course.grading import checker
    from cifar_course.grading.isolated import scrubbed_environment

    call = HiddenCall("check_label_smoothing_loss", 1, slots=("loss",), literals={"smoothing": 0.1})
    save_answer(call.check, {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=0.1)},
                tmp_path / "a")
    entry = {"check": call.check, "arguments": read_answer(tmp_path / "a", call),
             "literals": call.literals, "references_sha256": None}
    settings = {"profile": "smoke", "under_grader": False}
    environment = scrubbed_environment(RunConfig.from_environment())
    first = checker.shared_checker(environment)
    assert first.decide([entry], settings, timeout=300) == [(True, "")]
    assert checker.shared_checker(environment) is first and first.alive
    assert first.decide([entry, {**entry, "check": "not_a_check"}], settings, timeout=300)[0][0]

    [(passed, message)] = first.decide([entry], {**settings, "profile": "no such profile"},
                                       timeout=300)
    assert not passed and "could not be decided" in message  # it died saying why
    assert "no such profile" in message and not first.alive

    second = checker.shared_checker(environment)
    assert second is not first
    [(passed, message)] = second.decide([entry], settings, timeout=0.01)  # still importing
    assert not passed and "took over 0 s" in message and not second.alive
    third = checker.shared_checker({**environment, "CIFAR_COURSE_PROFILE": "smoke"})
    assert third is not second and third.decide([entry], settings, timeout=300)[0][0]
    assert checker.shared_checker(environment) is not third  # another environment: another process


@pytest.mark.parametrize("name", ["...zip", "..zip", ".hidden", "a b"])
def test_an_entry_that_is_not_a_student_id_is_refused_by_name(tmp_path, name):
    subs = tmp_path / "subs"
    subs.mkdir()
    if name.endswith(".zip"):
        with zipfile.ZipFile(subs / name, "w") as archive:
            archive.writestr("nbgrader_config.py", "raise SystemExit('ran')")
    else:
        (subs / name).mkdir()
    (subs / "alice").mkdir()
    said = []
    assert list(autograde.submission_entries(subs, log=said.append)) == ["alice"]
    assert len(said) == 1 and repr(name) in said[0] and "Fix: rename" in said[0]


def test_a_link_entry_or_a_linked_notebook_is_never_followed(tmp_path):
    subs = tmp_path / "subs"
    (subs / "bob" / "work").mkdir(parents=True)
    other = tmp_path / "classmate" / "00_setup_and_data.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    (subs / "bob" / "work" / "00_setup_and_data.ipynb").symlink_to(other)
    (subs / "mallory").symlink_to(tmp_path / "classmate")
    said = []
    assert list(autograde.submission_entries(subs, log=said.append)) == ["bob"]
    assert "is a link" in said[0]
    assert autograde._find_notebooks(subs / "bob", ["00_setup_and_data"]) == {}


def test_paths_built_from_names_stay_inside():
    with pytest.raises(ValueError, match="would leave"):
        autograde.inside(Path("/tmp/course/submitted"), "..")
    with pytest.raises(ValueError, match="would leave"):
        autograde.inside(Path("/tmp/course/unpacked/alice"), "../../nbgrader_config.py")
    assert autograde.inside(Path("/tmp/c"), "alice").name == "alice"


def test_a_second_grader_on_the_same_course_stops_with_a_clear_error(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom cifar_course.grading.autograde import "
         "course_lock\nwith course_lock(sys.argv[1]):\n    print('held', flush=True)\n"
         "    time.sleep(60)", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(autograde.GraderBusy, match=f"process {holder.pid}"):
            with autograde.course_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with autograde.course_lock(tmp_path):  # free again once the other grader is gone
        with autograde.course_lock(tmp_path):  # and re-entrant within one grader
            pass


def test_a_graded_kernel_gets_a_stand_in_without_the_test_set(tmp_path, monkeypatch):
    """The stand-in keeps the profile's training and validation images exactly, and puts
    training images the profile never trains on where the test set was."""
    import numpy as np

    from cifar_course.data.sources import Arrays
    from cifar_course.grading.checks import same_copy_as_references
    from cifar_course.grading.stand_in import stand_in_arrays
    from cifar_course.profiles import get_profile
    from cifar_course.training import prepare_data

    rng = np.random.default_rng(0)
    n_train, n_test = 8000, 2000
    # Distinct images (an index in the first pixels), so that membership can be told.
    images = rng.integers(0, 256, (n_train + n_test, 32, 32, 3), dtype=np.uint8)
    images[:, 0, 0, :2] = np.stack([np.arange(n_train + n_test) // 256,
                                    np.arange(n_train + n_test) % 256], axis=1)
    labels = (np.arange(n_train + n_test) % 10).astype(np.uint8).reshape(-1, 1)
    real = Arrays(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:])
    np.savez(tmp_path / "real.npz", x_train=real.x_train, y_train=real.y_train,
             x_test=real.x_test, y_test=real.y_test)
    grade = get_profile("grade")
    stand_in = stand_in_arrays(real, grade)
    np.savez(tmp_path / "grader-stand-in.npz", x_train=stand_in.x_train, y_train=stand_in.y_train,
             x_test=stand_in.x_test, y_test=stand_in.y_test)
    monkeypatch.setenv("CIFAR_COURSE_CACHE", str(tmp_path / "cache"))
    on_real = prepare_data(grade, tmp_path / "real.npz")
    on_stand_in = prepare_data(grade, tmp_path / "grader-stand-in.npz")
    assert np.array_equal(on_real.x_train, on_stand_in.x_train)
    assert np.array_equal(on_real.x_val, on_stand_in.x_val)

    def ids(x):
        return set((x[:, 0, 0, 0].astype(int) * 256 + x[:, 0, 0, 1]).tolist())

    assert len(stand_in.x_test) == n_test
    assert not ids(stand_in.x_test) & ids(real.x_test), "the stand-in holds real test images"
    assert not ids(stand_in.x_test) & ids(on_real.x_train), "the stand-in tests on training images"
    # In the kernel, the accuracy check names it and checks the floor only.
    references = {"profiles": {"grade": {"provenance": {"data": {"kind": "imagefolder",
                                                                 "sha256": "0" * 64}}}}}
    same, mine, _ = same_copy_as_references(on_stand_in.source, "grade", references)
    assert not same and mine.startswith("the grader's stand-in")


def test_the_sandbox_binds_the_stand_in_and_never_the_real_data(tmp_path, monkeypatch):
    from cifar_course.data.loading import cache_dir, resolve_source
    from cifar_course.grading.sandbox import bwrap_prefix, readable_paths
    from cifar_course.config import GRADER_ENV, GraderSettings, RunConfig

    real = tmp_path / "cifar10.tar.gz"
    real.write_bytes(b"real")
    stand_in = tmp_path / "grader-stand-in.npz"
    stand_in.write_bytes(b"stand-in")
    monkeypatch.setenv("CIFAR_COURSE_DATA", str(real))
    grader = RunConfig(grader=GraderSettings(stand_in=str(stand_in))).to_environment()
    monkeypatch.setenv(GRADER_ENV, grader[GRADER_ENV])
    readable = readable_paths()
    assert str(stand_in.resolve()) in readable
    assert str(real.resolve()) not in readable and str(cache_dir().resolve()) not in readable
    command = bwrap_prefix([], readable)
    assert command[command.index("CIFAR_COURSE_DATA") + 1] == str(stand_in.resolve())
    assert resolve_source() == real.resolve()  # the grader itself still reads the real data


def test_the_install_digest_covers_the_graded_copys_arrays_and_nothing_else_in_the_cache(
        tmp_path, monkeypatch):
    """Another process decoding a copy into the same cache while a class is graded (a lesson,
    a reference run) voided every grade; rewriting the graded copy's arrays still must."""
    from cifar_course.data.loading import cache_file
    from cifar_course.grading.isolated import install_digest

    source = tmp_path / "cifar10-jpeg.tar.gz"
    source.write_bytes(b"the copy the grader was given")
    monkeypatch.setenv("CIFAR_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CIFAR_COURSE_DATA", str(source))
    arrays = cache_file()
    arrays.parent.mkdir()
    arrays.write_bytes(b"its decoded arrays")
    before, synthetic = install_digest("grade"), install_digest("smoke")

    (arrays.parent / "cifar10-0123456789abcdef.npz").write_bytes(b"another copy, decoded")
    (arrays.parent / f"{arrays.stem}.4242.tmp.npz").write_bytes(b"a cache being written")
    assert install_digest("grade") == before
    arrays.write_bytes(b"its decoded arrays, rewritten")
    assert install_digest("grade") != before
    assert install_digest("smoke") == synthetic  # a profile of synthetic images reads no copy
    npz = tmp_path / "arrays.npz"  # a copy that is arrays already is digested itself
    npz.write_bytes(b"x_train ...")
    monkeypatch.setenv("CIFAR_COURSE_DATA", str(npz))
    packed = install_digest("grade")
    npz.write_bytes(b"x_train ..., rewritten")
    assert install_digest("grade") != packed


def test_a_void_lesson_zeroes_what_the_grader_decided_and_keeps_the_instructors_grades(
        tmp_path, monkeypatch):
    """A void once set every grade of the lesson to zero, the hand-graded questions too: an
    instructor's grade was lost, and a later regrade could not tell that zero from theirs."""
    pytest.importorskip("nbgrader", reason="the gradebook is nbgrader's: pip install -e '.[dev]'")
    from nbgrader.api import Gradebook

    from cifar_course.grading.autograde import zero_lesson
    from cifar_course.grading.isolated import interpreter_first

    monkeypatch.setenv("PATH", interpreter_first(os.environ.get("PATH", "")))  # its alembic

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        gradebook.add_assignment("lesson")
        gradebook.add_notebook("lesson", "lesson")
        gradebook.add_grade_cell("test", "lesson", "lesson", max_score=3, cell_type="code")
        gradebook.add_task_cell("marked", "lesson", "lesson", max_score=2, cell_type="markdown")
        gradebook.add_task_cell("unmarked", "lesson", "lesson", max_score=2, cell_type="markdown")
        gradebook.add_student("ada")
        gradebook.add_submission("lesson", "ada")
        gradebook.find_grade("test", "lesson", "lesson", "ada").auto_score = 3
        gradebook.find_grade("marked", "lesson", "lesson", "ada").manual_score = 1.5
        gradebook.db.commit()

    zero_lesson(tmp_path, "ada", "lesson")

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        def grade(name):
            return gradebook.find_grade(name, "lesson", "lesson", "ada")

        assert grade("test").score == 0
        assert grade("marked").manual_score == 1.5
        assert grade("unmarked").manual_score is None and grade("unmarked").auto_score is None
