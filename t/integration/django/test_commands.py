"""``manage.py thorn list|deliveries|redeliver|recover|ping``, run as real processes.

Each command is a ``manage.py`` process of the test project on a SQLite
file of this module's own (``t/proj/command_settings.py``), migrated and
filled once by another process.  Deliveries go to the loopback receiver,
whose answers each test scripts.  Exit statuses follow Django's
conventions: 0, 1 with ``CommandError: ...`` on stderr, 2 for a usage error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.utils.dateparse import parse_datetime

from t.receiver import Receiver
from t.services import ROOT

#: Fills the database: a subscription per test, and failed deliveries (the receiver answers 500).
SETUP = """
import json, sys
import django
django.setup()
from thorn import Event
from thorn.django.models import DeliveryRecord, Subscriber

base = sys.argv[1]
made = {}
for name in ("redeliver", "recover", "ping", "list", "off", "ok"):
    made[name] = str(Subscriber.objects.create(
        event=f"cmd.{name}", url=f"{base}/cmd/{name}?token=t0ken", hmac_secret="s" * 32
    ).uuid)
for name in ("redeliver", "recover", "recover", "list", "ok"):
    Event(f"cmd.{name}").send({"name": name})
off = Subscriber.objects.get(uuid=made["off"])
off.is_active = False
off.save()
records = DeliveryRecord.objects.order_by("created_at")
made["deliveries"] = {
    name: [str(d.id) for d in records.filter(subscription=made[name])]
    for name in ("redeliver", "recover", "list", "ok")
}
print(json.dumps(made))
"""


def run(
    env: dict[str, str], *args: str, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-c", code, *args]
        if code is not None
        else [sys.executable, "-m", "django", *args]
    )
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, receiver_server: Receiver) -> dict[str, Any]:
    """The environment of the processes, and what SETUP made."""
    database = tmp_path_factory.mktemp("commands") / "db.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("THORN_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "t.proj.command_settings",
        "THORN_TEST_SQLITE": str(database),
    }
    migrated = run(env, "migrate", "--noinput", "-v", "0")
    assert 0 == migrated.returncode, migrated.stderr
    receiver_server.reset()
    for name in ("redeliver", "recover", "list"):
        receiver_server.answer(f"/cmd/{name}", 500)
    made = run(env, receiver_server.url(""), code=SETUP)
    assert 0 == made.returncode, made.stderr
    return {"env": env, **json.loads(made.stdout.strip().splitlines()[-1])}


def thorn(project: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run(project["env"], "thorn", *args)


def test_list_shows_health_without_credentials(project):
    result = thorn(project, "list")

    assert 0 == result.returncode, result.stderr
    lines = {
        line.split()[0]: line for line in result.stdout.splitlines() if not line.startswith(" ")
    }
    assert "active" in lines[project["list"]] and "last: failed 500" in lines[project["list"]]
    assert "disabled" in lines[project["off"]]
    assert "last: succeeded 200" in lines[project["ok"]]
    assert "t0ken" not in result.stdout and "token=***" in result.stdout
    assert "failing since" in result.stdout and "disabled by hand" in result.stdout


def test_list_json_and_disabled_only(project):
    result = thorn(project, "list", "--disabled", "--json")

    assert 0 == result.returncode, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (project["off"], False) == (row["uuid"], row["is_active"])
    assert row["disabled_at"] is not None


def test_deliveries_of_a_subscription(project):
    result = thorn(project, "deliveries", project["recover"], "--json", "--status", "failed")

    assert 0 == result.returncode, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert list(reversed(project["deliveries"]["recover"])) == [row["id"] for row in rows]
    assert {("failed", 500, 1)} == {(r["status"], r["status_code"], r["attempts"]) for r in rows}
    text = thorn(project, "deliveries", project["list"]).stdout
    assert f"{project['deliveries']['list'][0]}  cmd.list  failed  1 attempt  500" in text


def test_redeliver_attempts_again_with_the_same_id(project, receiver):
    [delivery] = project["deliveries"]["redeliver"]

    result = thorn(project, "redeliver", delivery)

    assert 0 == result.returncode, result.stderr
    assert f"Redelivered {delivery} (cmd.redeliver): succeeded, attempt 2, 200." in result.stdout
    [received] = receiver.for_path("/cmd/redeliver?token=t0ken")
    assert delivery == received.header("Hook-Delivery")


def test_recover_since_a_time(project, receiver):
    since = "2000-01-01"

    result = thorn(project, "recover", project["recover"], "--since", since, "--json")

    assert 0 == result.returncode, result.stderr
    answer = json.loads(result.stdout)
    assert (2, False) == (answer["recovered"], answer["more"])
    relayed = thorn(project, "relay", "--once", "--json")
    assert 2 == json.loads(relayed.stdout)["deliveries"]
    assert 2 == len(receiver.for_path("/cmd/recover?token=t0ken"))


def test_ping_delivers_a_thorn_ping_now(project, receiver):
    result = thorn(project, "ping", project["ping"], "--json")

    assert 0 == result.returncode, result.stderr
    answer = json.loads(result.stdout)
    assert (True, 200) == (answer["ok"], answer["status_code"])
    [received] = receiver.for_path("/cmd/ping?token=t0ken")
    assert ("thorn.ping", answer["delivery"]) == (
        received.header("Hook-Event"),
        received.header("Hook-Delivery"),
    )
    data = received.json()["data"]
    assert (project["ping"], "cmd.ping") == (data["subscription"], data["event"])
    assert parse_datetime(data["timestamp"]).tzinfo is not None


def test_a_failed_ping_exits_1(project, receiver):
    receiver.answer("/cmd/ping", 503)

    result = thorn(project, "ping", project["ping"])

    assert 1 == result.returncode
    assert "CommandError: Ping of" in result.stderr and "503" in result.stderr
    assert "t0ken" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("ping", "OFF"), "is disabled: enable it first", id="ping-disabled"),
        pytest.param(
            ("recover", "OFF", "--since", "2000-01-01"), "is disabled", id="recover-disabled"
        ),
        pytest.param(("deliveries", "not-a-uuid"), "Not a subscription uuid", id="bad-uuid"),
        pytest.param(
            ("deliveries", "0b4a1f9e-0000-4000-8000-000000000000"), "No subscription", id="unknown"
        ),
        pytest.param(
            ("redeliver", "0b4a1f9e-0000-4000-8000-000000000000"), "No delivery", id="no-delivery"
        ),
    ],
)
def test_errors_exit_1_with_a_message(project, args, message):
    args = tuple(project["off"] if arg == "OFF" else arg for arg in args)

    result = thorn(project, *args)

    assert 1 == result.returncode
    assert "CommandError: " in result.stderr and message in result.stderr


def test_a_bad_since_is_a_usage_error(project):
    result = thorn(project, "recover", project["recover"], "--since", "yesterday")

    assert 2 == result.returncode
    assert "not an ISO 8601 date or time" in result.stderr
