"""Every catalogued wrong answer is rejected by the check its lesson grades it with."""

from __future__ import annotations

from collections import Counter

import pytest

from wrong_answers import CATALOGUE, CORRECT_VARIANTS


def test_at_least_five_wrong_answers_per_lesson():
    counts = Counter(lesson for lesson, *_ in CATALOGUE)
    assert len(counts) == 10 and min(counts.values()) >= 5, counts


@pytest.mark.parametrize("lesson, mistake, check, arguments", CATALOGUE,
                         ids=[f"{lesson[:2]}-{mistake}" for lesson, mistake, *_ in CATALOGUE])
def test_a_wrong_answer_is_rejected(lesson, mistake, check, arguments):
    from cifar_course.grading import checks

    with pytest.raises(AssertionError) as rejected:
        getattr(checks, check)(**arguments())
    assert str(rejected.value).strip(), "a rejection must say what was expected and what came"


@pytest.mark.parametrize("lesson, variant, check, arguments", CORRECT_VARIANTS,
                         ids=[f"{lesson[:2]}-{variant}" for lesson, variant, *_ in CORRECT_VARIANTS])
def test_a_correct_variant_passes(lesson, variant, check, arguments):
    from cifar_course.grading import checks

    getattr(checks, check)(**arguments())
