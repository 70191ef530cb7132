"""Tests against a real Redis broker and real Celery workers (PostgreSQL run only)."""
