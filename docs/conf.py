"""Sphinx configuration for the thorn documentation."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
# The source tree first, so autodoc documents this checkout, and the test
# project (t.proj) is importable for examples that need Django configured.
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t.proj.settings")

try:
    import django

    django.setup()
except ImportError:  # Django or the test project not installed: core pages still build.
    pass


def _read_version() -> str:
    source = (ROOT / "thorn" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", source, re.MULTILINE)
    return match.group(1) if match else "unknown"


project = "thorn"
author = "thorn developers"
copyright = "2026, thorn developers"
release = _read_version()
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.extlinks",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build", "_inventories"]
templates_path: list[str] = []
nitpicky = True

# -- autodoc / napoleon ------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Arguments", "params_style")]

# -- cross-project links -----------------------------------------------------

# The builds run offline (CI has no network): each inventory falls back to an
# empty local one, so a failed download is an info message, not a warning.
# Online, references to these projects become links.
_OFFLINE_INVENTORY = "_inventories/offline.inv"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", (None, _OFFLINE_INVENTORY)),
    "django": (
        "https://docs.djangoproject.com/en/stable/",
        ("https://docs.djangoproject.com/en/stable/_objects/", _OFFLINE_INVENTORY),
    ),
    "celery": ("https://docs.celeryq.dev/en/stable/", (None, _OFFLINE_INVENTORY)),
    "requests": ("https://requests.readthedocs.io/en/latest/", (None, _OFFLINE_INVENTORY)),
}
intersphinx_timeout = 5

# Offline, nitpicky mode cannot resolve references into those projects (nor
# the builtins, which live in Python's inventory); ignore only those, so a
# broken reference to thorn itself still fails the build.
_EXTERNAL = (
    r"(builtins|abc|typing|typing_extensions|collections|collections\.abc|contextvars|"
    r"datetime|decimal|enum|hashlib|hmac|ipaddress|json|logging|random|secrets|ssl|socket|"
    r"threading|types|uuid|"
    r"django|rest_framework|celery|kombu|requests|urllib3|itsdangerous)(\..+)?"
)
_BUILTINS = (
    r"(None|Any|object|type|bool|int|float|complex|str|bytes|bytearray|list|tuple|dict|set|"
    r"frozenset|isinstance|issubclass|Callable|Iterable|Iterator|Mapping|Sequence|MutableMapping|"
    r"[A-Z][A-Za-z]*(Error|Exception|Warning)|Ellipsis|NotImplemented)"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _BUILTINS),
    (r"std:setting", r"(?!THORN_).*"),  # Django's settings
    # Private type variables and typeshed-only names in signatures
    # (``_Model``, ``_T``, ``hashlib._Hash``) have nothing to link to.
    (r"py:class", r"(thorn(\.\w+)*\.)?_[A-Z]\w*"),
]

# -- extlinks ----------------------------------------------------------------

_REPO = "https://github.com/robinhood/thorn"
extlinks = {
    "issue": (f"{_REPO}/issues/%s", "#%s"),
    "pr": (f"{_REPO}/pull/%s", "PR #%s"),
}

# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"thorn {release}"
html_static_path: list[str] = []


def setup(app: Sphinx) -> None:
    """Add the ``setting`` directive and role, as Django's own docs have them."""
    # `.. setting:: THORN_X` marks where a setting is documented and
    # `:setting:` links to it (Django's settings resolve through intersphinx).
    app.add_crossref_type(
        directivename="setting",
        rolename="setting",
        indextemplate="pair: %s; setting",
    )
