"""WSGI application of the test project (served by gunicorn in the process tests)."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
