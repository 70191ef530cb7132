"""Benchmark of the delivery engine: the table of issue 14, with its targets.

Run with ``make bench`` (or ``.venv/bin/python -m bench.engine [NAME ...]``);
record the table it prints in bench/README.rst, with the commit and the date.

Every measure runs in a process of its own, against receivers in processes
of their own (``bench/receiver.py``).  The in-process measures use the test
project on in-memory SQLite; those with several processes (threads, the
background dispatcher, Celery workers, memory) use a throwaway PostgreSQL
and Redis started here.  Measures:

``save``
    What ``@webhook_model`` adds to ``Article.objects.create()`` when nobody
    subscribes (the events guide's model: five save events, one reading the
    previous row), with the default and the celery dispatcher, with 0 and
    10,000 subscriptions to other events.  The figure is the time of
    thorn's ``pre_save`` and ``post_save`` handlers for a real save; the
    difference between saves with and without them (noisier) is shown too.
``lookup``
    Finding the 10 subscriptions of an event among 1k to 1M stored ones,
    once the index is warm.
``filters``
    The same among 10,000, and the subscriber-side filter of each of the
    10 evaluated on the payload (three keys, one a regular expression on
    RE2), each with a lease (``expires_at``): what planning an event's
    deliveries costs on top of the lookup (issue 17).
``fast``
    200 events (``Event.send()``) x 10 subscribers on one fast receiver,
    default dispatcher, every delivery recorded, against a plain
    ``requests`` Session posting as many requests of the same size one
    after another, in the same run.
``slow-default``, ``slow-background``, ``slow-celery-prefork``, ``slow-celery-gevent``
    20 events x 10 subscribers on one receiver answering after 50 ms.
``fast-celery``
    20 events x 100 subscribers on the fast receiver, Celery prefork x 2.
``silent``
    One ``save()`` with 10 subscribers that never answer (3 s timeout).
``memory``
    100,000 deliveries in one process: how much its RSS, threads and open
    files grow after the first 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a measure may wait for its deliveries, at most.
DEADLINE = 120.0


# -- rows of the table ------------------------------------------------------------------------


def row(measure: str, figure: str, target: str = "", met: bool | None = None) -> dict[str, Any]:
    return {"measure": measure, "figure": figure, "target": target, "met": met}


def print_table(rows: list[dict[str, Any]]) -> None:
    widths = [max(len(r[key]) for r in rows) for key in ("measure", "figure", "target")]
    widths = [max(w, len(h)) for w, h in zip(widths, ("measure", "main", "target"), strict=True)]
    line = "  ".join("=" * w for w in [*widths, 7])
    print(line)
    print(
        "  ".join(
            h.ljust(w)
            for h, w in zip(("measure", "main", "target", "met"), [*widths, 7], strict=True)
        )
    )
    print(line)
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        cells = (r["measure"], r["figure"], r["target"], met)
        print("  ".join(c.ljust(w) for c, w in zip(cells, [*widths, 7], strict=True)))
    print(line)


# -- where the CPU went ----------------------------------------------------------------------

#: Processes by role, from their command lines.
ROLES = (
    ("worker", ("celery", "worker")),
    ("receiver", ("bench.receiver",)),
    ("postgres", ("postgres",)),
    ("redis", ("redis-server",)),
)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each role's processes, and by this one ("publisher")."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {role: 0.0 for role, _ in ROLES}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # it exited meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(entry.name) == os.getpid():
            used["publisher"] = seconds
            continue
        for role, words in ROLES:
            if all(word in command for word in words):
                used[role] += seconds
                break
    return used


def cpu_per_delivery(before: dict[str, float], deliveries: int) -> str:
    """Milliseconds of CPU per delivery, by role, since ``before``."""
    after = cpu_seconds()
    spent = {role: (after.get(role, 0.0) - before.get(role, 0.0)) for role in after}
    parts = ", ".join(
        f"{role} {seconds / deliveries * 1e3:.2f}" for role, seconds in spent.items() if seconds
    )
    total = sum(spent.values()) / deliveries * 1e3
    ceiling = (os.cpu_count() or 1) * 1e3 / total
    return f"CPU ms per delivery: {parts}; total {total:.2f} (all cores: ≤ {ceiling:,.0f}/s)"


# -- the Django side of a measure ------------------------------------------------------------


def setup_django(settings_module: str = "t.proj.settings") -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
    settings.THORN_RECIPIENT_VALIDATORS = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def fresh_tables() -> None:
    from thorn.django.models import AttemptRecord, DeliveryRecord, MessageRecord, Subscriber

    for model in (AttemptRecord, DeliveryRecord, MessageRecord, Subscriber):
        model.objects.all().delete()


def subscribe(event: str, urls: list[str]) -> None:
    from thorn.django.models import Subscriber

    Subscriber.objects.bulk_create([Subscriber(event=event, url=url) for url in urls])


def wait_recorded(count: int, since: float) -> float:
    """Seconds from ``since`` until ``count`` deliveries succeeded (bounded by DEADLINE)."""
    from thorn.django.models import DeliveryRecord

    while DeliveryRecord.objects.filter(state="succeeded").count() < count:
        if time.monotonic() - since > DEADLINE:
            done = DeliveryRecord.objects.filter(state="succeeded").count()
            raise SystemExit(f"only {done} of {count} deliveries succeeded")
        time.sleep(0.01)
    return time.monotonic() - since


def send_events(events: int, body: int = 256) -> None:
    from t.proj.blog.models import Article

    for n in range(events):
        Article.objects.create(title=f"bench {n}", body="x" * body)


# -- save: what @webhook_model adds to save() ------------------------------------------------


@contextmanager
def muted(model: type[Any]) -> Iterator[None]:
    """``model``'s own pre_save and post_save receivers disconnected (thorn's)."""
    from django.db.models import signals

    saved = {}
    for signal in (signals.pre_save, signals.post_save):
        saved[signal] = signal.receivers
        signal.receivers = [r for r in signal.receivers if r[0][1] != id(model)]
        signal.sender_receivers_cache.clear()
    try:
        yield
    finally:
        for signal, receivers in saved.items():
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()


def measure_save() -> list[dict[str, Any]]:
    setup_django()
    from django.db.models import signals
    from django.test.utils import override_settings

    from thorn.django.models import Subscriber

    from t.proj.blog.models import Article

    def per_save(n: int = 2000) -> float:
        started = time.perf_counter()
        for _ in range(n):
            Article.objects.create(title="x")
        return (time.perf_counter() - started) / n * 1e6

    def handlers() -> float:
        """Microseconds in thorn's handlers of a create: its pre_save and post_save sends."""
        new, saved = Article(title="x"), Article.objects.create(title="x")
        options = {"raw": False, "using": "default", "update_fields": None}
        timer = timeit.Timer(
            lambda: (
                signals.pre_save.send(sender=Article, instance=new, **options),
                signals.post_save.send(sender=Article, instance=saved, created=True, **options),
            )
        )
        with muted(Article):
            bare = min(timer.repeat(repeat=7, number=20_000))
        return (min(timer.repeat(repeat=7, number=20_000)) - bare) / 20_000 * 1e6

    rows = []
    import t.proj.celery  # noqa: F401  (the celery dispatcher needs an app; nothing is sent)

    for subscriptions in (0, 10_000):
        if subscriptions:
            Subscriber.objects.bulk_create(
                Subscriber(event=f"other{i % 100}.happened", url=f"https://example.com/{i}")
                for i in range(subscriptions)
            )
        for dispatcher in ("default", "celery"):
            with override_settings(THORN_DISPATCHER=dispatcher):
                per_save(500)  # warm: the index is loaded
                cost = handlers()
                differences = []
                for round_ in range(8):
                    # In turns first and second: the table grows as it goes.
                    if round_ % 2:
                        with_thorn = per_save()
                    with muted(Article):
                        without = per_save()
                    if not round_ % 2:
                        with_thorn = per_save()
                    differences.append(with_thorn - without)
            label = f"save() cost, nobody subscribed, {dispatcher}, {subscriptions:,} other subs"
            whole = statistics.median(differences)
            figure = f"{whole:.0f} µs (thorn's handlers alone: {cost:.1f} µs)"
            rows.append(row(label, figure, "≤ 10 µs", whole <= 10))
    return rows


# -- lookup: 10 matching among N ------------------------------------------------------------


def measure_lookup() -> list[dict[str, Any]]:
    setup_django()
    from thorn._state import current_app
    from thorn.django.bulk import insert
    from thorn.django.models import Subscriber

    dispatcher = current_app().dispatcher
    rows, stored = [], 0
    figures = []
    for total in (1_000, 10_000, 100_000, 1_000_000):
        new = [
            {"event": f"other{i % 1000}.event", "url": f"https://example.com/{i}"}
            for i in range(stored, total - 10)
        ]
        for start in range(0, len(new), 50_000):
            insert(Subscriber, new[start : start + 50_000], using="default")
        if not stored:
            insert(
                Subscriber,
                [{"event": "bench.hit", "url": f"https://example.com/hit/{i}"} for i in range(10)],
                using="default",
            )
        stored = total
        from thorn.django.index import subscriptions_changed

        subscriptions_changed(Subscriber)
        started = time.perf_counter()
        found = dispatcher.subscribers_for_event("bench.hit")
        cold = (time.perf_counter() - started) * 1e3
        assert len(found) == 10, len(found)
        timer = timeit.Timer(lambda: dispatcher.subscribers_for_event("bench.hit"))
        warm = min(timer.repeat(repeat=5, number=20_000)) / 20_000 * 1e6
        figures.append(warm)
        rows.append(
            row(
                f"lookup, 10 matching among {total:,}",
                f"{warm:.1f} µs (first, loading the index: {cold:.0f} ms)",
                "≤ 50 µs, flat",
                warm <= 50,
            )
        )
    flat = max(figures) <= 2 * min(figures)
    rows.append(
        row("lookup, flat from 1k to 1M", f"{min(figures):.1f}-{max(figures):.1f} µs", "flat", flat)
    )
    return rows


# -- filters: the lookup and 10 subscriber-side filters --------------------------------------


def measure_filters() -> list[dict[str, Any]]:
    setup_django()
    from datetime import timedelta

    from django.utils import timezone

    from thorn._state import current_app
    from thorn.django.bulk import insert
    from thorn.django.index import subscriptions_changed
    from thorn.django.models import Subscriber

    dispatcher = current_app().dispatcher
    insert(
        Subscriber,
        [{"event": f"other{i % 1000}.event", "url": f"https://e.com/{i}"} for i in range(9_990)],
        using="default",
    )
    hits = Subscriber.objects.bulk_create(
        Subscriber(event="bench.hit", url=f"https://example.com/hit/{i}") for i in range(10)
    )
    payload = {
        "event": "bench.hit",
        "ref": None,
        "sender": None,
        "data": {"state": "PUBLISHED", "title": "A bench of the filters", "words": 1200},
    }

    def planned() -> list[Any]:
        return [s for s in dispatcher.subscribers_for_event("bench.hit") if s.accepts(payload)]

    def warm_us() -> float:
        subscriptions_changed(Subscriber)
        assert len(planned()) == 10
        timer = timeit.Timer(planned)
        return min(timer.repeat(repeat=5, number=20_000)) / 20_000 * 1e6

    bare = warm_us()
    Subscriber.objects.filter(pk__in=[hit.pk for hit in hits]).update(
        filter={
            "data__state__eq": "PUBLISHED",
            "data__words__gte": 1000,
            "data__title__regex": "^A (bench|test) of",
        },
        expires_at=timezone.now() + timedelta(days=1),
    )
    filtered = warm_us()
    return [
        row("lookup + accepts(), 10 matching among 10,000, no filter", f"{bare:.1f} µs"),
        row(
            "the same, each with a 3-key filter (RE2 regex) and a lease",
            f"{filtered:.1f} µs ({(filtered - bare) / 10:.2f} µs per filter)",
            "≤ 50 µs",
            filtered <= 50,
        ),
    ]


# -- the fast receiver, default dispatcher, against plain requests ----------------------------


def measure_fast() -> list[dict[str, Any]]:
    import requests

    from bench.receiver import Receiver

    setup_django()
    from thorn import Event

    events, subscribers = 200, 10
    with Receiver() as receiver:
        subscribe("article.created", [receiver.url(f"/hook/{i}") for i in range(subscribers)])
        body = json.dumps({"event": "article.created", "data": {"title": "x" * 300}}).encode()

        def plain() -> float:
            session = requests.Session()
            started = time.perf_counter()
            for i in range(events * subscribers):
                response = session.post(
                    receiver.url(f"/hook/{i % subscribers}"),
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=3,
                )
                assert response.ok
            session.close()
            return events * subscribers / (time.perf_counter() - started)

        def thorn() -> float:
            from thorn.django.models import DeliveryRecord

            before = DeliveryRecord.objects.filter(state="succeeded").count()
            event = Event("article.created")
            started = time.perf_counter()
            for n in range(events):
                event.send({"n": n, "title": "x" * 300})
            rate = events * subscribers / (time.perf_counter() - started)
            succeeded = DeliveryRecord.objects.filter(state="succeeded").count() - before
            assert events * subscribers == succeeded, succeeded
            return rate

        send_events(5)  # warm: connections, the index
        rates = []
        for _ in range(3):
            baseline = plain()
            before = cpu_seconds()
            rates.append((baseline, thorn()))
            cpu = cpu_per_delivery(before, events * subscribers)
    baseline = statistics.median(p for p, _ in rates)
    ours = statistics.median(t for _, t in rates)
    return [
        row("plain requests Session, serial, 2000 posts", f"{baseline:,.0f}/s"),
        row(
            "fast receiver, 200 x 10, default, records on",
            f"{ours:,.0f}/s = {ours / baseline:.2f} x requests",
            "≥ 0.9 x requests",
            ours >= 0.9 * baseline,
        ),
        row("  where the CPU went", cpu),
    ]


# -- the 50 ms receiver ----------------------------------------------------------------------

SLOW = 0.05


def measure_slow_default() -> list[dict[str, Any]]:
    from bench.receiver import Receiver

    setup_django("t.proj.worker_settings")
    fresh_tables()
    events, subscribers = 20, 10
    rows = []
    with Receiver(delay=SLOW) as receiver:
        subscribe("article.created", [receiver.url(f"/hook/{i}") for i in range(subscribers)])
        send_events(1)
        fresh_deliveries()
        started = time.monotonic()
        send_events(events)
        took = wait_recorded(events * subscribers, started)
        rate = events * subscribers / took
        rows.append(
            row(
                "50 ms receiver, 20 x 10, default, saves one after another",
                f"{rate:,.0f}/s",
                "≥ 500/s",
                rate >= 500,
            )
        )
        fresh_deliveries()
        started = time.monotonic()
        threads = [threading.Thread(target=send_in_thread, args=(events // 4,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = wait_recorded(events * subscribers, started)
        rate = events * subscribers / took
        rows.append(
            row(
                "the same, from 4 threads at once (a threaded server)",
                f"{rate:,.0f}/s",
                "≥ 500/s",
                rate >= 500,
            )
        )
    return rows


def send_in_thread(events: int) -> None:
    from django.db import connection

    try:
        send_events(events)
    finally:
        connection.close()


def fresh_deliveries() -> None:
    from thorn.django.models import AttemptRecord, DeliveryRecord, MessageRecord

    for model in (AttemptRecord, DeliveryRecord, MessageRecord):
        model.objects.all().delete()


def measure_slow_background() -> list[dict[str, Any]]:
    from bench.receiver import Receiver

    setup_django("t.proj.worker_settings")
    from django.conf import settings

    settings.THORN_DISPATCHER = "background"
    from thorn.dispatch import background

    fresh_tables()
    events, subscribers = 20, 10
    with Receiver(delay=SLOW) as receiver:
        subscribe("article.created", [receiver.url(f"/hook/{i}") for i in range(subscribers)])
        send_events(1)
        assert background._pool is not None and background._pool.drain(DEADLINE)
        fresh_deliveries()
        from t.proj.blog.models import Article

        saves = []
        started = time.monotonic()
        for n in range(events):
            before = time.perf_counter()
            Article.objects.create(title=f"bench {n}")
            saves.append((time.perf_counter() - before) * 1e3)
        took = wait_recorded(events * subscribers, started)
    p50 = statistics.median(saves)
    rate = events * subscribers / took
    return [
        row(
            "50 ms receiver, 20 x 10, background: save() p50 (max)",
            f"{p50:.2f} ms ({max(saves):.2f} ms)",
            "≤ 1 ms",
            p50 <= 1,
        ),
        row("the same, deliveries", f"{rate:,.0f}/s"),
    ]


def measure_celery(
    pool: str, concurrency: int, delay: float, events: int, subscribers: int
) -> tuple[float, str]:
    """Deliveries per second through ``concurrency`` x ``pool`` workers, and where the CPU went."""
    from bench.receiver import Receiver

    from t.services import CeleryWorker

    setup_django("t.proj.worker_settings")
    from django.conf import settings

    import t.proj.celery as project

    settings.THORN_DISPATCHER = "celery"
    fresh_tables()
    worker_env = dict(os.environ)
    if pool == "gevent":  # a connection per greenlet, and a greenlet per task: a pool
        worker_env.update(THORN_TEST_DB_POOL="1", THORN_TEST_CONN_MAX_AGE="0")
    else:  # Celery closes the connection around every task, unless told to reuse it
        worker_env["THORN_TEST_SETTINGS"] = json.dumps({"CELERY_DB_REUSE_MAX": 1000})
    with (
        Receiver(delay=delay) as receiver,
        CeleryWorker(
            worker_env,
            pool=pool,
            concurrency=concurrency,
            queue=os.environ["THORN_TEST_CELERY_QUEUE"],
        ) as worker,
    ):
        worker.wait_ready(time.monotonic() + 60, project.app)
        subscribe("article.created", [receiver.url(f"/hook/{i}") for i in range(subscribers)])
        send_events(2)
        wait_recorded(2 * subscribers, time.monotonic())
        rates = []
        before = cpu_seconds()
        for _ in range(3):
            fresh_deliveries()
            started = time.monotonic()
            send_events(events)
            rates.append(events * subscribers / wait_recorded(events * subscribers, started))
        cpu = cpu_per_delivery(before, 3 * events * subscribers)
    return statistics.median(rates), cpu


def celery_rows(label: str, target: float, target_text: str, *args: Any) -> list[dict[str, Any]]:
    rate, cpu = measure_celery(*args)
    return [
        row(label, f"{rate:,.0f}/s", target_text, rate >= target),
        row("  where the CPU went", cpu),
    ]


def measure_slow_celery_prefork() -> list[dict[str, Any]]:
    label = "50 ms receiver, 20 x 10, Celery prefork x 2"
    return celery_rows(label, 300, "≥ 300/s", "prefork", 2, SLOW, 20, 10)


def measure_slow_celery_gevent() -> list[dict[str, Any]]:
    label = "50 ms receiver, 20 x 10, Celery gevent x 100"
    return celery_rows(label, 1200, "≥ 1,200/s", "gevent", 100, SLOW, 20, 10)


def measure_fast_celery() -> list[dict[str, Any]]:
    label = "fast receiver, 20 x 100, Celery prefork x 2"
    return celery_rows(label, 1410, "≥ 1.5 x 940/s = 1,410/s", "prefork", 2, 0.0, 20, 100)


# -- never-answering subscribers -------------------------------------------------------------


def measure_silent() -> list[dict[str, Any]]:
    setup_django()
    listeners = []
    for _ in range(10):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listeners.append(listener)
    subscribe("article.created", [f"http://127.0.0.1:{s.getsockname()[1]}/hook" for s in listeners])
    from t.proj.blog.models import Article

    started = time.perf_counter()
    Article.objects.create(title="silent")
    took = time.perf_counter() - started
    for listener in listeners:
        listener.close()
    return [
        row(
            "one save(), 10 subscribers that never answer (3 s timeout)",
            f"{took:.2f} s",
            "about one timeout",
            took < 3 * 1.5,
        )
    ]


# -- memory ----------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS in /proc/self/status")


def measure_memory() -> list[dict[str, Any]]:
    from bench.receiver import Receiver

    setup_django("t.proj.worker_settings")
    fresh_tables()
    subscribers, warm, events = 10, 1_000, 10_000
    with Receiver() as receiver:
        subscribe("article.created", [receiver.url(f"/hook/{i}") for i in range(subscribers)])
        send_events(warm)
        fresh_deliveries()
        before = (rss_mb(), threading.active_count(), len(os.listdir("/proc/self/fd")))
        started = time.monotonic()
        send_events(events)
        took = time.monotonic() - started
        after = (rss_mb(), threading.active_count(), len(os.listdir("/proc/self/fd")))
    grown = after[0] - before[0]
    deliveries = events * subscribers
    return [
        row(
            f"memory: {deliveries:,} deliveries in one process ({deliveries / took:,.0f}/s)",
            f"RSS +{grown:.1f} MB; threads {before[1]} -> {after[1]}; "
            f"open files {before[2]} -> {after[2]}",
            "< 20 MB, no leak",
            grown < 20 and after[1] == before[1] and after[2] <= before[2] + 1,
        )
    ]


MEASURES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "save": measure_save,
    "lookup": measure_lookup,
    "filters": measure_filters,
    "fast": measure_fast,
    "silent": measure_silent,
    "slow-default": measure_slow_default,
    "slow-background": measure_slow_background,
    "slow-celery-prefork": measure_slow_celery_prefork,
    "slow-celery-gevent": measure_slow_celery_gevent,
    "fast-celery": measure_fast_celery,
    "memory": measure_memory,
}
#: Measures that need PostgreSQL and Redis.
SERVICES = {
    "slow-default",
    "slow-background",
    "slow-celery-prefork",
    "slow-celery-gevent",
    "fast-celery",
    "memory",
}


@contextmanager
def services() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL (migrated) and Redis; the environment of the measures."""
    from t.integration.celery.conftest import worker_environment
    from t.postgres import PostgresServer
    from t.services import RedisServer

    with ExitStack() as stack:
        postgres = stack.enter_context(PostgresServer())
        redis = stack.enter_context(RedisServer())
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": postgres.host,
            "PORT": postgres.port,
            "NAME": "postgres",
            "USER": postgres.user,
        }
        env = worker_environment(
            broker_url=redis.url, database=database, queue="thorn-bench", settings={}
        )
        env["THORN_TEST_CELERY_QUEUE"] = "thorn-bench"
        # Workers keep their connections, as production workers should.
        env["THORN_TEST_CONN_MAX_AGE"] = "600"
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        yield env


def run(name: str, env: dict[str, str] | None) -> list[dict[str, Any]]:
    """Run one measure in a process of its own; return its rows."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.engine", "--one", name],
        cwd=ROOT,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "THORN_"))},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode:
        return [row(name, f"failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")]
    rows: list[dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", choices=[[], *MEASURES], default=[])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        print(json.dumps(MEASURES[options.one]()))
        return
    names = options.names or list(MEASURES)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        env = stack.enter_context(services()) if SERVICES & set(names) else None
        for name in names:
            print(f"{name}...", file=sys.stderr, flush=True)
            rows.extend(run(name, env if name in SERVICES else None))
    print_table(rows)


if __name__ == "__main__":
    main()
