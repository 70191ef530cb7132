"""Sphinx configuration for the thorn documentation."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

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
    r"(builtins|abc|argparse|typing|typing_extensions|collections|collections\.abc|contextvars|"
    r"datetime|decimal|enum|hashlib|hmac|ipaddress|json|logging|random|secrets|ssl|socket|"
    r"threading|time|types|uuid|concurrent|"
    r"django|django_tasks|asgiref|rest_framework|celery|kombu|requests|urllib3|itsdangerous|"
    r"prometheus_client|opentelemetry)(\..+)?"
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
    # Django's Signal.connect() docstring, which thorn's signal dispatchers
    # inherit, names its own example function.
    (r"py:func", r"receive"),
    # Private names in signatures and base class lists (type variables such
    # as ``_Model`` and ``_T``, typeshed-only ``hashlib._Hash``, private base
    # classes such as ``thorn.django.signals._dispatch_on_save``) have
    # nothing to link to.
    (r"py:class", r"(thorn(\.\w+)*\.)?_[A-Za-z]\w*"),
]

# Annotations that name a class imported under ``if TYPE_CHECKING:`` or
# through an import alias cannot be evaluated by autodoc, which then links the
# bare name: ``BaseDispatcher`` and ``Callback`` are not documented names, and
# ``Dispatcher`` names three classes.  Such references go to the object the
# name stands for in thorn's code, unless the module or class being
# documented has its own object of that name (``thorn.dispatch.celery``'s
# ``Dispatcher`` keeps meaning its own class).
TYPE_HINT_TARGETS = {
    # ``from thorn.dispatch.base import Dispatcher as BaseDispatcher``
    "BaseDispatcher": "thorn.dispatch.base.Dispatcher",
    # ``from thorn.dispatch.base import Dispatcher`` (thorn.events, thorn.buffer)
    "Dispatcher": "thorn.dispatch.base.Dispatcher",
    # ``Callback = Callable[..., Any]`` (thorn.events, thorn.request)
    "Callback": "collections.abc.Callable",
    # ``from datetime import timedelta`` (thorn.django.leases, thorn.django.stream.leases)
    "timedelta": "datetime.timedelta",
    # ``from thorn.validators import Resolver`` (thorn.transport)
    "Resolver": "collections.abc.Callable",
    # Function types: a MockTransport handler, a capture's answer, a signer.
    "Handler": "collections.abc.Callable",
    "Answer": "collections.abc.Callable",
    "Signer": "collections.abc.Callable",
    # ``from concurrent.futures import Executor`` (thorn.delivery.run)
    "Executor": "concurrent.futures.Executor",
    # ``from django.db import models`` (thorn.django.index, thorn.django.bulk)
    "models.Model": "django.db.models.Model",
    # ``from concurrent.futures import ThreadPoolExecutor`` (thorn.delivery.run)
    "ThreadPoolExecutor": "concurrent.futures.ThreadPoolExecutor",
    # Django's task framework (thorn.dispatch.tasks), and a logger.
    "TaskResult": "django.tasks.TaskResult",
    "BaseTaskBackend": "django.tasks.backends.base.BaseTaskBackend",
    "Logger": "logging.Logger",
}

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


class QualifyTypeHints(SphinxPostTransform):
    """Point bare type hint names at their targets (see ``TYPE_HINT_TARGETS``)."""

    default_priority = 5  # before the ReferencesResolver (10)

    def run(self, **kwargs: Any) -> None:
        objects = self.env.domains.python_domain.objects
        for node in self.document.findall(addnodes.pending_xref):
            name = node["reftarget"]
            target = TYPE_HINT_TARGETS.get(name)
            if node.get("refdomain") != "py" or target is None:
                continue
            scopes = [node.get("py:module"), node.get("py:class")]
            local = ".".join(filter(None, [*scopes, name]))
            module_level = ".".join(filter(None, [scopes[0], name]))
            if local not in objects and module_level not in objects:
                node["reftarget"] = target


def setup(app: Sphinx) -> None:
    """Add the ``setting`` directive and role, and qualify type hint names."""
    app.add_post_transform(QualifyTypeHints)
    # `.. setting:: THORN_X` marks where a setting is documented and
    # `:setting:` links to it (Django's settings resolve through intersphinx).
    app.add_crossref_type(
        directivename="setting",
        rolename="setting",
        indextemplate="pair: %s; setting",
    )
