"""Built-in prompts are pinned: a changed wording must come with a bumped version (registry: prompt_pins.py)."""

from __future__ import annotations

import pytest
from prompt_pins import PINS, SYNTH, Pin, digest

from reasonir.prompts import synth


@pytest.mark.parametrize("pin", PINS, ids=lambda p: p.name)
def test_prompt_is_pinned_to_its_version(pin: Pin):
    assert pin.current() == pin.version, f"{pin.name}: version is {pin.current()}; pin its texts in prompt_pins.py"
    assert digest(pin.texts()) == pin.sha256, (
        f"{pin.name} changed: bump its PROMPT_VERSION (or template version) and update the pin in prompt_pins.py")


def test_every_synthesizer_template_is_pinned():
    assert set(synth.TEMPLATES) == set(SYNTH)


def test_a_changed_text_breaks_its_pin():
    pin = next(p for p in PINS if p.name == "rewrite/templates")
    assert digest([*pin.texts()[:-1], pin.texts()[-1] + " "]) != pin.sha256
    assert len({p.name for p in PINS}) == len(PINS)
