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


#: What Thorn 1.5 never did: its settings fall back to the defaults only when
#: they are ``None``, so ``THORN_RECIPIENT_VALIDATORS = []`` turned its
#: validators off (only the internal-address block of 1.5.1+ stayed on).
EMPTY_VALIDATORS_REPLACED = re.compile(
    r"Thorn 1\.5 replaced (``\[\]``|an empty list|it) with the defaults"
    r"|``THORN_RECIPIENT_VALIDATORS = \[\]`` meant \"the defaults\""
)


def test_docs_do_not_say_thorn_15_replaced_an_empty_validator_list() -> None:
    """No page claims that Thorn 1.5 replaced an empty validator list with the defaults."""
    claims = {
        str(page.relative_to(DOCS)): EMPTY_VALIDATORS_REPLACED.findall(
            " ".join(page.read_text(encoding="utf-8").split())
        )
        for page in DOCS.rglob("*.rst")
        if "_build" not in page.parts
    }
    assert {} == {page: found for page, found in claims.items() if found}


def test_upgrading_guide_keeps_empty_validators_for_development_and_tests() -> None:
    """The upgrading guide still says that ``[]`` is for development and tests only."""
    text = " ".join((DOCS / "upgrading.rst").read_text(encoding="utf-8").split())
    assert "Use ``[]`` in development and tests only." in text


def test_checks_page_documents_the_check_of_every_setting() -> None:
    """The System checks page lists each setting's check id on the setting's row."""
    text = (DOCS / "userguide" / "checks.rst").read_text(encoding="utf-8")
    rows = re.split(r"\n(?=``thorn\.[EW]\d{3}``)", text)
    missing = [
        (name, check.id)
        for name, check in conf.CHECKS.items()
        if not any(row.startswith(f"``{check.id}``") and name in row for row in rows)
    ]
    assert [] == missing
