"""The documentation stays in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from thorn import conf

DOCS = Path(__file__).resolve().parents[2] / "docs"

#: A section title that is a setting name, and its underline (RST adornment).
SETTING_HEADING = re.compile(r"^(THORN_[A-Z_]+)\n([=\-~^\"'`#*+])\2*$", re.MULTILINE)


def documented_settings() -> list[str]:
    """Return the setting names that head a section of the configuration guide."""
    text = (DOCS / "userguide" / "configuration.rst").read_text(encoding="utf-8")
    return [
        match.group(1)
        for match in SETTING_HEADING.finditer(text)
        if len(match.group(0).splitlines()[1]) >= len(match.group(1))
    ]


def test_configuration_guide_documents_every_setting() -> None:
    """The configuration guide has one section per setting in ``conf.DEFAULTS``, and no other."""
    assert set(conf.DEFAULTS) == set(documented_settings())


def test_configuration_guide_documents_each_setting_once() -> None:
    """No setting has two sections in the configuration guide."""
    documented = documented_settings()
    assert sorted(set(documented)) == sorted(documented)


def test_changelog_has_a_section_for_2_0() -> None:
    """The changelog exists and has a section for 2.0.0."""
    text = (DOCS / "changelog.rst").read_text(encoding="utf-8")
    assert re.search(r"^2\.0\.0\b.*\n=+$", text, re.MULTILINE)
