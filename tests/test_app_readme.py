"""The README stays true: the two commands, and every setting documented."""

import os
from pathlib import Path

from karn.config import ENV_SETTINGS

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")


def test_readme_opens_with_the_two_commands():
    text = Path(README).read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_setting_has_a_row_in_the_configuration_table():
    text = Path(README).read_text(encoding="utf-8")
    missing = [name for name in ENV_SETTINGS if f"`KARN_{name}`" not in text]
    assert missing == []
