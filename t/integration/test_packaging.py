"""Release packaging: the sdist and the wheel that ``python -m build`` makes.

The module builds once, with ``python -m build --sdist --wheel``, from a copy
of the source tree: the repository gets no ``build/``, and a developer's stale
``build/lib`` or ``thorn.egg-info`` cannot leak into (or hide from) the
artifacts.  Then it checks what each artifact ships, the wheel's metadata,
``twine check --strict``, that the sdist alone builds the same wheel, and that
the wheel installs and imports in a fresh virtualenv, first with its default
dependencies only and then with the ``celery`` and ``drf`` extras.

It needs the package index pip is configured with: build isolation installs
setuptools, the virtualenv installs Django, Celery and DRF.  ``build`` and
``twine`` are pinned in requirements/test.txt.
"""

from __future__ import annotations

import email
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import thorn

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (ROOT / "setup.py").is_file(),
        reason="builds the source tree, and this copy of t/ has no setup.py beside it",
    ),
    # The module takes ~20 s with a warm package index (two builds, one fresh
    # virtualenv, two installs); leave room for a cold one.
    pytest.mark.timeout(300),
]

#: What the issue names explicitly; every other file under thorn/ must ship too.
REQUIRED_PACKAGE_FILES = frozenset(
    {
        "thorn/__init__.py",
        "thorn/py.typed",
        "thorn/tasks.py",
        "thorn/django/__init__.py",
        "thorn/django/rest_framework/openapi.json",
        "thorn/django/templates/thorn/portal/base.html",
        "thorn/django/templates/thorn/portal/subscription_detail.html",
        "thorn/django/static/thorn/portal/portal.css",
        "thorn/django/static/thorn/portal/portal.js",
        "thorn/django/migrations/__init__.py",
        "thorn/django/migrations/0001_initial.py",
        "thorn/django/migrations/0002_auto_20160523_1905.py",
        "thorn/django/migrations/0003_auto_20171024_0654.py",
        "thorn/django/migrations/0004_thorn_2_0.py",
        "thorn/django/migrations/0005_secret_rotation.py",
        "thorn/django/migrations/0006_delivery_engine.py",
        "thorn/django/migrations/0007_subscription_index.py",
    }
)
MIGRATIONS = sorted(path.stem for path in (ROOT / "thorn/django/migrations").glob("0*.py"))
#: Top-level directories of the repository that no artifact may contain.
NOT_SHIPPED = ("t/", "examples/", "bench/", "docs/", ".ci/", "build/", "dist/", ".venv/", ".git/")
#: Entries of the repository's root that are not copied for the build...
NOT_COPIED_AT_ROOT = frozenset({".git", ".venv", ".tox", "build", "dist", "htmlcov"})
#: ... and caches, wherever they are.
NOT_COPIED = frozenset(
    {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
)
#: Environment variables the subprocesses must not inherit from the test session.
NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "VIRTUAL_ENV",
)

# Run in the fresh virtualenv with ``python -I -c PROBE SETTINGS_DIR SETTINGS
# MODULES``: -I keeps the repository (and PYTHONPATH) off sys.path, so only the
# installed wheel can be imported.  It imports thorn before Django is set up,
# then sets up Django as manage.py does (thorn picks its Django environment by
# DJANGO_SETTINGS_MODULE: settings.configure() alone is not enough).
PROBE = """
import importlib, importlib.metadata, json, os, sys

assert "DJANGO_SETTINGS_MODULE" not in os.environ, "DJANGO_SETTINGS_MODULE leaked in"
import thorn  # needs no Django settings
import thorn.django

sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = sys.argv[2]
import django

django.setup()
for module in sys.argv[3].split(","):
    importlib.import_module(module)

from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

call_command("check")
call_command("migrate", verbosity=0)
call_command("makemigrations", "webhooks", check=True, dry_run=True, verbosity=0)
print(json.dumps({
    "version": thorn.__version__,
    "file": thorn.__file__,
    "django": django.__version__,
    "migrations": sorted(
        name for app, name in MigrationRecorder(connection).applied_migrations()
        if app == "webhooks"
    ),
    "distributions": sorted(
        d.metadata["Name"] for d in importlib.metadata.distributions()
    ),
}))
"""
SETTINGS = """\
SECRET_KEY = "packaging-test"
USE_TZ = True
INSTALLED_APPS = {apps!r}
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
"""
DJANGO_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "thorn.django"]


@dataclass(frozen=True)
class Dist:
    """The artifacts of one build, and the source tree they were built from."""

    source: Path
    wheel: Path
    sdist: Path


def subprocess_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def run(*cmd: str | Path, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure, fail the test with its command line and output."""
    argv = [str(arg) for arg in cmd]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{shlex.join(argv)} timed out after {timeout:.0f} s:\n{exc}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{shlex.join(argv)} exited {proc.returncode} after {time.monotonic() - started:.1f} s"
            f"\n--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc


def difference(what: str, actual: set[str], expected: set[str]) -> str:
    """Explain how ``actual`` differs from ``expected``, one file a line."""
    lines = [f"{what} differs from what it should be:"]
    lines += [f"  missing:    {name}" for name in sorted(expected - actual)]
    lines += [f"  unexpected: {name}" for name in sorted(actual - expected)]
    return "\n".join(lines)


def listed(what: str, names: set[str] | list[str]) -> str:
    return "\n".join([what, *(f"  {name}" for name in sorted(names))])


def ignore_when_copying(directory: str, names: list[str]) -> set[str]:
    ignored = {name for name in names if name in NOT_COPIED or name.endswith((".pyc", ".pyo"))}
    if Path(directory) == ROOT:
        ignored |= {n for n in names if n in NOT_COPIED_AT_ROOT or n.endswith(".egg-info")}
    elif Path(directory) == ROOT / "docs":
        ignored |= {"_build"} & set(names)
    return ignored


def package_files(source: Path) -> set[str]:
    """Every file under ``source``/thorn/, as paths relative to ``source``."""
    return {
        path.relative_to(source).as_posix()
        for path in (source / "thorn").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def content_problems(artifact: str, files: set[str], needed: set[str], source: Path) -> list[str]:
    """What is wrong with the files of an artifact, one finding a line.

    ``needed`` must be there; so must every file under thorn/ in ``source``,
    and nothing else under thorn/; nothing from NOT_SHIPPED, nothing compiled.
    """
    package = package_files(source)
    shipped = {name for name in files if name.startswith("thorn/")}
    compiled = {name for name in files if "__pycache__" in name or name.endswith((".pyc", ".pyo"))}
    problems = [f"{artifact} lacks {name}" for name in sorted(needed - files)]
    problems += [
        f"{artifact} lacks {name} (every file under thorn/ ships)"
        for name in sorted(package - shipped - needed)
    ]
    problems += [
        f"{artifact} ships {name}, which must stay in the repository"
        for name in sorted(files)
        if name.startswith(NOT_SHIPPED)
    ]
    problems += [f"{artifact} ships compiled {name}" for name in sorted(compiled)]
    problems += [
        f"{artifact} ships {name}, which is not in the source tree"
        for name in sorted(shipped - package - compiled)
    ]
    return problems


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements in a requirements file, following ``-r`` as setup.py does."""
    requirements: list[Requirement] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            requirements += read_requirements(path.parent / line.split(None, 1)[1])
        elif line:
            requirements.append(Requirement(line))
    return requirements


EXTRA_MARKER = re.compile(r"""\s*(?:and\s+)?extra\s*==\s*["']([^"']+)["']""")


def requirement_key(requirement: Requirement) -> str:
    """A requirement without its ``extra ==`` marker, normalized for comparison."""
    marker = EXTRA_MARKER.sub("", str(requirement.marker or "")).strip()
    extras = ",".join(sorted(requirement.extras))
    specifier = ",".join(sorted(str(spec) for spec in requirement.specifier))
    key = canonicalize_name(requirement.name) + (f"[{extras}]" if extras else "") + specifier
    return f"{key}; {marker}" if marker else key


def requires_by_extra(metadata: Message) -> dict[str, set[str]]:
    """``Requires-Dist`` grouped by extra; ``""`` holds the default requirements."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        match = EXTRA_MARKER.search(str(requirement.marker or ""))
        grouped[match.group(1) if match else ""].add(requirement_key(requirement))
    return grouped


def wheel_entries(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()
        }


def dist_info_file(entries: dict[str, bytes], name: str) -> bytes:
    matches = [path for path in entries if re.fullmatch(rf"[^/]+\.dist-info/{name}", path)]
    assert len(matches) == 1, listed(
        f"expected one .dist-info/{name} in the wheel, found:", matches
    )
    return entries[matches[0]]


def wheel_metadata(wheel: Path) -> Message:
    return email.message_from_bytes(dist_info_file(wheel_entries(wheel), "METADATA"))


def sdist_files(sdist: Path) -> tuple[str, set[str]]:
    """The sdist's root directory and its files, relative to that directory."""
    with tarfile.open(sdist) as archive:
        members = [member for member in archive.getmembers() if not member.isdir()]
    roots = {member.name.split("/", 1)[0] for member in members}
    assert len(roots) == 1, listed("the sdist must have a single root directory, it has:", roots)
    (root,) = roots
    return root, {member.name.split("/", 1)[1] for member in members}


def sdist_pkg_info(sdist: Path) -> Message:
    root, _ = sdist_files(sdist)
    with tarfile.open(sdist) as archive:
        pkg_info = archive.extractfile(f"{root}/PKG-INFO")
        assert pkg_info is not None
        return email.message_from_bytes(pkg_info.read())


def only(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, listed(
        f"expected one {pattern} in {directory}, found:", [p.name for p in directory.iterdir()]
    )
    return found[0]


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def probe(python: Path, cwd: Path, apps: list[str], modules: list[str]) -> dict[str, Any]:
    """Run PROBE in a virtualenv, with a settings module for ``apps``; return its report."""
    settings = cwd / "settings"
    settings.mkdir(exist_ok=True)
    name = f"settings_{len(list(settings.glob('*.py')))}"
    (settings / f"{name}.py").write_text(SETTINGS.format(apps=apps), encoding="utf-8")
    proc = run(python, "-I", "-c", PROBE, settings, name, ",".join(modules), cwd=cwd)
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


# --- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build --sdist --wheel`` of a copy of the source tree, once."""
    for tool in ("build", "twine"):
        if importlib.util.find_spec(tool) is None:
            pytest.fail(
                f"{tool} is not installed in {sys.prefix}: "
                "pip install -r requirements/test.txt (it pins build and twine)",
                pytrace=False,
            )
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=ignore_when_copying, symlinks=True)
    out = base / "dist"
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, source, cwd=base)
    return Dist(source=source, wheel=only(out, "*.whl"), sdist=only(out, "*.tar.gz"))


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the bare wheel installed: default dependencies only."""
    home = tmp_path_factory.mktemp("fresh-venv")
    run(sys.executable, "-m", "venv", home / "venv", cwd=home)
    run(venv_python(home / "venv"), "-m", "pip", "install", dist.wheel, cwd=home)
    return home / "venv"


@pytest.fixture(scope="module")
def bare_report(venv: Path) -> dict[str, Any]:
    """PROBE in ``venv`` before any extra is installed."""
    return probe(venv_python(venv), venv.parent, DJANGO_APPS, ["thorn.django.models"])


@pytest.fixture(scope="module")
def extras_report(dist: Dist, venv: Path, bare_report: dict[str, Any]) -> dict[str, Any]:
    """PROBE in ``venv`` after installing the wheel's celery and drf extras.

    Asks for ``bare_report`` so that it is taken before the extras go in.
    """
    python = venv_python(venv)
    run(python, "-m", "pip", "install", f"{dist.wheel}[celery,drf]", cwd=venv.parent)
    run(python, "-m", "pip", "check", cwd=venv.parent)
    modules = [
        "thorn.django.models",
        "thorn.tasks",
        "thorn.django.tasks",
        "thorn.django.rest_framework.urls",
    ]
    return probe(python, venv.parent, ["rest_framework", *DJANGO_APPS], modules)


# --- artifacts -------------------------------------------------------------------


def test_wheel_ships_the_package_and_nothing_else(dist: Dist) -> None:
    assert f"thorn-{thorn.__version__}-py3-none-any.whl" == dist.wheel.name
    entries = wheel_entries(dist.wheel)
    payload = {name for name in entries if not name.split("/", 1)[0].endswith(".dist-info")}

    problems = content_problems("the wheel", payload, set(REQUIRED_PACKAGE_FILES), dist.source)
    problems += [
        f"the wheel ships {name}, outside thorn/"
        for name in sorted(payload)
        if not name.startswith(("thorn/", *NOT_SHIPPED))
    ]
    assert not problems, "\n".join(problems)
    assert b"thorn\n" == dist_info_file(entries, "top_level.txt")
    assert b"Root-Is-Purelib: true" in dist_info_file(entries, "WHEEL")
    assert (ROOT / "LICENSE").read_bytes() == dist_info_file(entries, "licenses/LICENSE")


def test_sdist_ships_the_package_and_what_setup_py_reads(dist: Dist) -> None:
    assert f"thorn-{thorn.__version__}.tar.gz" == dist.sdist.name
    root, files = sdist_files(dist.sdist)
    assert f"thorn-{thorn.__version__}" == root

    requirement_files = {
        path.relative_to(dist.source).as_posix()
        for path in (dist.source / "requirements").rglob("*.txt")
    }
    needed = (
        REQUIRED_PACKAGE_FILES
        | requirement_files
        | {"setup.py", "pyproject.toml", "MANIFEST.in", "README.rst", "LICENSE", "PKG-INFO"}
    )
    problems = content_problems("the sdist", files, needed, dist.source)
    assert not problems, "\n".join(problems)


def test_wheel_metadata(dist: Dist) -> None:
    metadata = wheel_metadata(dist.wheel)
    assert "thorn" == metadata["Name"]
    assert thorn.__version__ == metadata["Version"]
    assert "BSD-3-Clause" == metadata["License-Expression"]
    assert "text/x-rst" == metadata["Description-Content-Type"]

    # Requires-Python is the lowest Python version of the classifiers.
    versions = [
        Version(classifier.rsplit(" :: ", 1)[1])
        for classifier in metadata.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
    ]
    assert f">={min(versions)}" == metadata["Requires-Python"]

    # A plain install gets requirements/default.txt, unpinned, and nothing else:
    # in particular none of the test tools pinned in requirements/test.txt.
    requires = requires_by_extra(metadata)
    default = {requirement_key(r) for r in read_requirements(ROOT / "requirements/default.txt")}
    assert requires[""] == default, difference(
        "Requires-Dist without an extra (vs requirements/default.txt)", requires[""], default
    )
    pinned = {key for key in requires[""] if "==" in key}
    assert not pinned, listed("default requirements must not be pinned:", pinned)

    # One extra per requirements/extras/*.txt, with exactly its requirements,
    # and `test` (pinned test tools, for `pip install -e .[test]`).
    extras_files = {path.stem: path for path in (ROOT / "requirements/extras").glob("*.txt")}
    assert {"celery", "drf", "openapi"} <= extras_files.keys()
    provided = set(metadata.get_all("Provides-Extra") or [])
    assert provided == {*extras_files, "test"}, difference(
        "Provides-Extra", provided, {*extras_files, "test"}
    )
    for extra, path in sorted(extras_files.items()):
        expected = {requirement_key(r) for r in read_requirements(path)}
        assert requires[extra] == expected, difference(
            f"Requires-Dist of extra {extra!r} (vs {path.relative_to(ROOT)})",
            requires[extra],
            expected,
        )


def test_sdist_metadata_matches_the_wheel(dist: Dist) -> None:
    wheel, sdist = wheel_metadata(dist.wheel), sdist_pkg_info(dist.sdist)
    for field in ("Name", "Version", "Requires-Python", "License-Expression"):
        assert wheel[field] == sdist[field], field
    for field in ("Requires-Dist", "Provides-Extra", "Classifier"):
        assert set(wheel.get_all(field) or []) == set(sdist.get_all(field) or []), field


def test_twine_check_passes(dist: Dist) -> None:
    """The long description renders on PyPI and the metadata is complete."""
    run(sys.executable, "-m", "twine", "check", "--strict", dist.wheel, dist.sdist, cwd=dist.source)


def test_sdist_builds_the_same_wheel(dist: Dist, tmp_path: Path) -> None:
    """What a downstream packager or pip does with the sdist: unpack it, build a wheel."""
    with tarfile.open(dist.sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp_path, filter="data")
        else:  # Pythons without extraction filters (3.10 before 3.10.12)
            archive.extractall(tmp_path)  # noqa: S202 -- our own sdist
    unpacked = only(tmp_path, "thorn-*")
    out = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", out, unpacked, cwd=tmp_path)
    rebuilt = only(out, "*.whl")
    assert dist.wheel.name == rebuilt.name

    # RECORD holds the hashes of the rest, which are compared directly.
    from_sdist = {k: v for k, v in wheel_entries(rebuilt).items() if not k.endswith("/RECORD")}
    from_tree = {k: v for k, v in wheel_entries(dist.wheel).items() if not k.endswith("/RECORD")}
    assert from_sdist.keys() == from_tree.keys(), difference(
        "the wheel built from the sdist (vs the one built from the tree)",
        set(from_sdist),
        set(from_tree),
    )
    changed = {name for name in from_tree if from_tree[name] != from_sdist[name]}
    assert not changed, listed("files that differ between the two wheels:", changed)


# --- installing the wheel ----------------------------------------------------------


def test_bare_wheel_imports_with_default_dependencies_only(
    venv: Path, bare_report: dict[str, Any]
) -> None:
    """``pip install thorn``: no extras, no test tools; the Django app still works."""
    assert thorn.__version__ == bare_report["version"]
    installed_from = Path(bare_report["file"])
    assert installed_from.is_relative_to(venv), f"thorn was imported from {installed_from}"
    assert MIGRATIONS == bare_report["migrations"]

    installed = {canonicalize_name(name) for name in bare_report["distributions"]}
    default = {
        canonicalize_name(r.name) for r in read_requirements(ROOT / "requirements/default.txt")
    }
    assert default <= installed, listed("default requirements not installed:", default - installed)
    optional = {
        canonicalize_name(r.name)
        for path in [ROOT / "requirements/test.txt", *(ROOT / "requirements/extras").glob("*.txt")]
        for r in read_requirements(path)
    } - default
    leaked = installed & optional
    assert not leaked, listed("a plain install pulled in optional or test packages:", leaked)


def test_wheel_with_celery_and_drf_extras_imports(
    venv: Path, extras_report: dict[str, Any]
) -> None:
    """``pip install thorn[celery,drf]``: thorn.tasks and the REST API import, pip check passes."""
    assert thorn.__version__ == extras_report["version"]
    assert Path(extras_report["file"]).is_relative_to(venv)
    assert MIGRATIONS == extras_report["migrations"]
    installed = {canonicalize_name(name) for name in extras_report["distributions"]}
    assert {"celery", "djangorestframework"} <= installed
    assert "pytest" not in installed


def test_wheel_loads_package_data_from_site_packages(venv: Path) -> None:
    """py.typed and openapi.json are where importlib.resources looks for them."""
    code = (
        "import importlib.resources as r, json;"
        "assert r.files('thorn').joinpath('py.typed').is_file();"
        "schema = json.loads(r.files('thorn.django.rest_framework')"
        ".joinpath('openapi.json').read_text('utf-8'));"
        "print(schema['openapi'])"
    )
    proc = run(venv_python(venv), "-I", "-c", code, cwd=venv.parent)
    assert proc.stdout.strip().startswith("3.")
