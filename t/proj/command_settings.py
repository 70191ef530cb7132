"""Settings of the ``manage.py thorn`` tests' processes: the test project on a SQLite file.

``THORN_TEST_SQLITE`` names the file (lower-case names are read here, so
that they do not become settings).  Deliveries go to the loopback
receiver, and a failed delivery fails at once (no retry schedule).
"""

import os

from django.core.exceptions import ImproperlyConfigured

from t.proj.settings import *  # noqa: F403

_path = os.environ.get("THORN_TEST_SQLITE")
if not _path:
    raise ImproperlyConfigured("the command tests need THORN_TEST_SQLITE in their environment")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _path}}

THORN_RECIPIENT_VALIDATORS: list[object] = []
THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"
THORN_RETRY_SCHEDULE: list[float] = []
