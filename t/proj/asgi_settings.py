"""Django settings of the tests' ASGI servers (uvicorn serving the live streams).

The settings of a test worker process (:mod:`t.proj.worker_settings`: the
test database, ``THORN_TEST_SETTINGS``), and DRF's token authentication, so
that ``python -m thorn listen --token`` can log in as it does on a real site.
"""

from t.proj.worker_settings import *  # noqa: F403

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ]
}
