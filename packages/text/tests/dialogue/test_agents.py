"""Role-play agent outputs: one clean turn per call."""

from __future__ import annotations

import pytest

from biosynth.text._dialogue.agents import clean_turn

SPEAKERS = ["Doctor", "Patient", "doctor", "patient"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("Doctor: Hello, what brings you in today?", "Hello, what brings you in today?"),
    ("**Patient:** My chest hurts.\nDoctor: Since when?", "My chest hurts."),
    ("I have a cough. Patient: and a fever", "I have a cough."),
    ("Patient: Patient: I am fine.", "I am fine."),
    ('"I feel dizzy."', "I feel dizzy."),
    ("  Take it   twice\n a day.  ", "Take it twice a day."),
    ("Please see your doctor: a specialist will call.", "Please see your doctor: a specialist will call."),
    ("doctor:", ""),
    ("   ", ""),
])
def test_clean_turn(raw: str, expected: str) -> None:
    assert clean_turn(raw, SPEAKERS) == expected
