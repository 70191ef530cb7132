"""ASGI application of the test project (served by uvicorn in the live stream tests)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t.proj.settings")

application = get_asgi_application()
