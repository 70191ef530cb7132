"""Packaging for thorn: metadata here, dependencies in requirements/."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements"


def read_version() -> str:
    """Return ``__version__`` from ``thorn/_version.py``, the only place it lives."""
    source = (HERE / "thorn" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", source, re.MULTILINE)
    if match is None:
        raise RuntimeError("cannot find __version__ in thorn/_version.py")
    return match.group(1)


def read_requirements(path: Path) -> list[str]:
    """Return the requirements listed in ``path``, following ``-r`` includes."""
    requirements: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            included = line.split(None, 1)[1].strip()
            requirements.extend(read_requirements(path.parent / included))
        elif line.startswith("-"):
            raise RuntimeError(f"{path}: unsupported option in requirements file: {line!r}")
        else:
            requirements.append(line)
    return requirements


def extras_require() -> dict[str, list[str]]:
    """One extra per ``requirements/extras/*.txt`` (named by its stem), plus ``test``."""
    extras = {
        path.stem: read_requirements(path)
        for path in sorted((REQUIREMENTS / "extras").glob("*.txt"))
    }
    extras["test"] = read_requirements(REQUIREMENTS / "test.txt")
    return extras


setup(
    name="thorn",
    version=read_version(),
    description="Webhooks for Django models: subscribe, filter, sign and deliver events.",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    author="thorn developers",
    url="https://github.com/robinhood/thorn",
    # PEP 639 (setuptools >= 77): the SPDX expression, written as License-Expression.
    license_expression="BSD-3-Clause",
    keywords="webhooks, events, django, http, callbacks",
    packages=find_packages(exclude=["t", "t.*", "examples*", "bench*", "docs*"]),
    include_package_data=True,
    # py.typed marks the package as typed (PEP 561); openapi.json is the
    # shipped OpenAPI schema of the REST API (thorn.django.rest_framework.schema);
    # the portal's templates and static files (thorn.django's) are its pages; migrations are
    # packages (thorn.django.migrations) and so are found by find_packages.
    package_data={
        "thorn": [
            "py.typed",
            "django/rest_framework/openapi.json",
            "django/templates/thorn/portal/*.html",
            "django/static/thorn/portal/*",
        ]
    },
    zip_safe=False,
    python_requires=">=3.10",
    install_requires=read_requirements(REQUIREMENTS / "default.txt"),
    extras_require=extras_require(),
    # The captured_webhooks fixture, for users' test suites (thorn.testing).
    entry_points={"pytest11": ["thorn = thorn.pytest_plugin"]},
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Framework :: Django",
        # Exactly the tested combinations (tox.ini, `make matrix`): Django 4.2
        # on Python 3.10, 5.2 on 3.11, 6.0 on 3.12 and 3.13.
        "Framework :: Django :: 4.2",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Programming Language :: Python :: Implementation :: CPython",
        "Topic :: Internet :: WWW/HTTP",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Typing :: Typed",
    ],
)
