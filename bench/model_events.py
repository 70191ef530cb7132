"""Benchmark: what model events add to ``save()``.

Run with ``.venv/bin/python -m bench.model_events`` from the repository root;
record the results in bench/README.rst.  It uses the test project
(``t.proj``, in-memory SQLite): ``Tag`` has no events, ``Article`` has the
Events guide's (created/changed/published/retracted, payload, headers,
``get_absolute_url``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t.proj.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from thorn.django.models import Subscriber  # noqa: E402

from t.proj.blog.models import Article, Tag  # noqa: E402
from t.receiver import Receiver  # noqa: E402

SAVES = 2000


def per_save_us(save: Callable[[int], object], runs: int = SAVES) -> float:
    """Microseconds per call of ``save(i)``."""
    started = time.perf_counter()
    for i in range(runs):
        save(i)
    return (time.perf_counter() - started) / runs * 1e6


def create_tag(i: int) -> object:
    return Tag.objects.create(name=f"t{i}")


def create_article(i: int) -> object:
    return Article.objects.create(title=f"a{i}")


def change_article(article: Article) -> Callable[[int], object]:
    def change(i: int) -> object:
        article.title = f"a{i}"
        article.save()
        return article

    return change


def main() -> None:
    call_command("migrate", verbosity=0)
    article = Article.objects.create(title="changed")
    rows = [
        ("no events (Tag.objects.create)", "default", create_tag),
        ("create, dispatcher disabled", "disabled", create_article),
        ("create, no subscribers", "default", create_article),
        ("change (3 events, 1 with now_*), no subscribers", "default", change_article(article)),
    ]
    with override_settings(THORN_RECIPIENT_VALIDATORS=[]):
        for label, dispatcher, save in rows:
            with override_settings(THORN_DISPATCHER=dispatcher):
                print(f"{label}: {per_save_us(save):.0f} µs per save")
        receiver = Receiver().start()
        try:
            Subscriber.objects.create(event="article.created", url=receiver.url("/hook"))
            us = per_save_us(create_article, runs=500)
            print(f"create, 1 loopback subscriber (delivered in save): {us:.0f} µs per save")
        finally:
            receiver.stop()
    print(f"(DEBUG={settings.DEBUG}, database {settings.DATABASES['default']['ENGINE']})")


if __name__ == "__main__":
    main()
