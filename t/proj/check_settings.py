"""Django settings of the tests' ``manage.py check`` subprocesses.

The test project's settings, plus the ``THORN_*`` settings of the JSON
object in ``THORN_TEST_SETTINGS`` (read from the environment), e.g.
``{"THORN_CHUNKSIZE": -1}``: each subprocess checks the settings it is given.
"""

import json
import os

from t.proj.settings import *  # noqa: F403

THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"

globals().update(
    {
        name: value
        for name, value in json.loads(os.environ.get("THORN_TEST_SETTINGS") or "{}").items()
        if name.startswith("THORN_")
    }
)
