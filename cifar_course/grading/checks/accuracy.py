"""The metric check of every training lesson: the test accuracy recomputed from the model
itself, against the stage's reference band.
"""

from __future__ import annotations

import numpy as np

from ...evaluation import predict_proba
from ...profiles import Profile, get_profile
from ...references import BAND_FLOOR, MissingReferenceError, load_references, reference_band


# The smoke profile trains for seconds on synthetic images and has no
# reference: its metric check only asks for better than chance (10%).
SMOKE_MINIMUM_ACCURACY = 0.2


# Real data in a profile with no measured reference yet: a floor far above
# chance (10%) that every stage clears in every measured profile.
NO_REFERENCE_MINIMUM_ACCURACY = 0.3


# On a copy of CIFAR-10 the references were not measured on, the band's floor is lowered
# by the band's own minimum half-width: figures on two copies differ by a few points.
OTHER_COPY_ALLOWANCE = BAND_FLOOR


def recompute_test_accuracy(model, x_test, y_test) -> float:
    probabilities = predict_proba(model, x_test)
    assert np.all(np.isfinite(probabilities)), (
        "the model outputs NaN: training diverged (the loss became NaN). Lower the learning "
        "rate, or look for a division by zero or a log of zero in your code")
    return float((probabilities.argmax(axis=1) == np.ravel(y_test)).mean())


def check_test_accuracy(model, stage: str, profile: Profile | str, data=None, references=None,
                        under_grader: bool = False) -> str:
    """Recompute the model's test accuracy and compare it with the stage's reference band.

    ``under_grader`` is set by the grader's checker alone (never by a notebook):
    the data must then be the references' own copy, and a stage must have a band.
    """
    from ...training import prepare_data

    profile = get_profile(profile)
    data = data or prepare_data(profile)
    accuracy = recompute_test_accuracy(model, data.x_test, data.y_test)
    if profile.synthetic:
        assert accuracy >= SMOKE_MINIMUM_ACCURACY, (
            f"smoke profile: test accuracy {accuracy:.3f} is no better than chance")
        return f"smoke profile (no reference): test accuracy {accuracy:.3f}, better than chance"
    references = references if references is not None else load_references()
    same_data, mine, theirs = same_copy_as_references(data.source, profile.name, references)
    if under_grader:
        # The grader refuses another copy before the first student (autograde); this
        # is the last guard, for a checker started some other way.
        assert same_data, (
            f"grader set-up: the test data is {mine}, not {theirs}, which the {profile.name} "
            f"references were measured on: grade with the references' copy, or measure the "
            f"references on this one (cifar-course references run --profile {profile.name})")
    try:
        band = reference_band(stage, profile.name, references=references)
    except MissingReferenceError as missing:
        assert not under_grader, (
            f"grader set-up: no {profile.name} reference for stage {stage!r}; grade in a "
            f"profile that has one (cifar-course references show)")
        assert accuracy >= NO_REFERENCE_MINIMUM_ACCURACY, (
            f"test accuracy {accuracy:.4f} is below {NO_REFERENCE_MINIMUM_ACCURACY:.2f}: the "
            f"model learned little (chance is 0.10). Look at the training curves: does the "
            f"training loss fall?")
        return (f"NOT COMPARED WITH A REFERENCE: test accuracy {accuracy:.4f} was checked only "
                f"against a floor of {NO_REFERENCE_MINIMUM_ACCURACY:.2f} (chance: 0.10), because "
                f"stage {stage!r} has no band in the {profile.name} profile yet "
                f"({str(missing).split(': a band')[0]}). Choose a profile with bands "
                f"(PROFILE = 'quick') to have your run compared")
    if not same_data:
        floor = band.low - OTHER_COPY_ALLOWANCE
        assert accuracy >= floor, (
            f"test accuracy {accuracy:.4f} is below {floor:.4f}, the floor of the {profile.name} "
            f"band of stage {stage!r} ({band.describe()}) less {100 * OTHER_COPY_ALLOWANCE:g} "
            f"points, since your data is {mine}, not {theirs}. Hint: compare your model and "
            f"training settings with what the lesson asks for; the curves show whether it "
            f"trained at all")
        return (f"test accuracy {accuracy:.4f}: above the floor {floor:.4f}. Your data is {mine}; "
                f"the references were measured on {theirs}, so only the floor is checked (the "
                f"band's low end less {100 * OTHER_COPY_ALLOWANCE:g} points), not the upper end: "
                f"the same model can score a few points apart on two copies (on canonical "
                f"CIFAR-10, higher)")
    assert accuracy >= band.low, (
        f"test accuracy {accuracy:.4f} is below the {profile.name} reference band of stage "
        f"{stage!r}: {band.describe()}. Hint: compare your model and training settings with "
        f"what the lesson asks for; the curves show whether it trained at all")
    assert accuracy <= band.high, (
        f"test accuracy {accuracy:.4f} is above the {profile.name} reference band of stage "
        f"{stage!r}: {band.describe()}. No model trained as this stage asks reaches that in "
        f"this budget on {theirs}: check that the test images were used for nothing but this "
        f"measurement, and that the recipe is the stage's")
    return f"test accuracy {accuracy:.4f} within the reference band: {band.describe()}"


def same_copy_as_references(source, profile: str, references: dict) -> tuple[bool, str, str]:
    """(whether ``source`` holds the images the profile's references were measured on,
    the student's copy in words, the references' copy in words), told by content."""
    from ...data.copies import describe_copy, known_copy

    measured = references.get("profiles", {}).get(profile, {}).get("provenance", {}).get("data", {})
    expected = known_copy(archive_sha256=measured.get("sha256"))
    expected_content = expected.content_sha256 if expected else measured.get("content_sha256")
    theirs = describe_copy(measured.get("kind", ""), measured.get("sha256"), expected_content)
    if source is None:
        return False, "synthetic images", theirs
    mine = describe_copy(source.kind, source.sha256, source.content_sha256, source.path)
    same = (source.sha256 is not None and source.sha256 == measured.get("sha256")) or (
        source.content_sha256 is not None and source.content_sha256 == expected_content)
    return same, mine, theirs

