"""Delivery to channels with real processes: a worker fleet, loopback HTTP and SMTP servers, CLI readers."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from aiosmtpd.controller import Controller

from pipeline.channels import ChannelSpec, accepts, load_channels
from pipeline.config import ConfigError
from pipeline.models import Story
from tests.conftest import PROJECT, free_port, run_cli
from tests.test_messages import make_alert
from workers.delivery import dispatch, enqueue_delivery
from workers.server import EmbeddedServer
from workers.store import Store

SECRET = "not-in-any-log-7f3a"

# --- the channel config --------------------------------------------------------------------------


def write_config(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "storywatch.toml").write_text(body, encoding="utf-8")
    return folder


def test_channels_load_with_defaults_and_local_paths(tmp_path: Path) -> None:
    config = write_config(tmp_path, """
[runtime]
namespace = "live"

[[channel]]
name = "hook"
type = "webhook"
url = "https://hooks.example/x"
secret_file = "hook.secret"
min_severity = "high"

[[channel]]
name = "mail"
type = "apprise"
url = "mailto://a@example.org?smtp=mail.example.org&to=b@example.org"

[[channel]]
name = "off"
type = "console"
enabled = false
""")
    hook, mail = load_channels(config)
    assert hook.secret_file == tmp_path / "hook.secret" and hook.retry_intervals == (10, 60, 300)
    assert mail.format == "text"


@pytest.mark.parametrize(("table", "line", "needle"), [
    ('name = "x"\ntype = "webhook"\nurl = "https://h.example/"\n', 3, "needs exactly one of secret_env or"),
    ('name = "x"\ntype = "console"\nmin_severity = "urgent"\n', 6, "min_severity must be one of"),
    ('name = "x"\ntype = "jsonl"\npath = "a.jsonl"\nsecret_env = "S"\n', 7, "unknown key 'secret_env'"),
    ('name = "X Y"\ntype = "console"\n', 4, "needs name ="),
    ('name = "x"\ntype = "console"\ncooldown_minutes = -1\n', 6, "cooldown_minutes must be zero or more"),
])
def test_channel_errors_name_file_and_line(tmp_path: Path, table: str, line: int, needle: str) -> None:
    config = write_config(tmp_path, f"[runtime]\nnamespace = \"live\"\n[[channel]]\n{table}")
    with pytest.raises(ConfigError) as caught:
        load_channels(config)
    assert f"storywatch.toml:{line}:" in str(caught.value) and needle in str(caught.value)


def test_filters() -> None:
    conflict = make_alert("s1", "Twelve ships.", conflict="Ten ships.")
    fact = make_alert("s2", "A port reopened.", watched=True)
    assert accepts(ChannelSpec("a", "console", min_severity="high"), conflict)
    assert not accepts(ChannelSpec("a", "console", min_severity="high"), fact)
    assert accepts(ChannelSpec("a", "console", watched_only=True), fact)
    assert not accepts(ChannelSpec("a", "console", watched_only=True), conflict)
    assert accepts(ChannelSpec("a", "console", stories=("s1",), tags=("number",)), conflict)
    assert not accepts(ChannelSpec("a", "console", tags=("contradiction",)), fact)


# --- loopback receivers ----------------------------------------------------------------------------


@dataclass
class Receiver:
    """HTTP endpoints on loopback. /hook checks signatures and fails its first two requests;
    /down answers 503 while ``down`` is set; every other path records what it gets."""

    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    accepted: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    bad_signatures: int = 0
    down: bool = True

    def handle(self, path: str, headers: Any, body: bytes) -> int:
        self.requests[path] += 1
        if path == "/hook":
            stamp = headers["X-Storywatch-Timestamp"]
            expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, headers["X-Storywatch-Signature"]):
                self.bad_signatures += 1
                return 401
            if self.requests[path] <= 2:
                return 500
        if path == "/down" and self.down:
            return 503
        self.accepted[path].append(json.loads(body))
        return 200

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(receiver.handle(self.path, self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Deployment:
    store: Store
    config: Path
    receiver: Receiver
    mailbox: Mailbox
    log: Path
    cli_env: dict[str, str]

    def send(self, *alerts: Any) -> int:
        for alert in alerts:
            self.store.append_alert(alert)
        return dispatch(self.store, self.config)

    def jsonl(self) -> list[dict[str, Any]]:
        path = self.config / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def deployment(embedded: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One worker process serving every channel; each test uses stories of its own."""
    namespace = f"t-deliver-{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    http = receiver.serve()
    base = f"127.0.0.1:{http.server_address[1]}"
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    config = write_config(tmp_path_factory.mktemp("deliver-config"), f"""
[runtime]
namespace = "{namespace}"

[[channel]]
name = "hook"
type = "webhook"
url = "http://{base}/hook"
secret_env = "SW_TEST_HOOK_SECRET"
stories = ["s-hook"]
retry_intervals = [1, 1, 1]

[[channel]]
name = "chat"
type = "apprise"
url = "json://{base}/chat"
stories = ["s-chat"]

[[channel]]
name = "mail"
type = "apprise"
url = "mailto://storywatch@example.org:{smtp.port}?smtp=127.0.0.1&mode=insecure&to=desk@example.org"
stories = ["s-mail"]

[[channel]]
name = "calm"
type = "apprise"
url = "json://{base}/calm"
stories = ["s-calm"]
cooldown_minutes = 0.1

[[channel]]
name = "flaky"
type = "webhook"
url = "http://{base}/down"
secret_env = "SW_TEST_HOOK_SECRET"
stories = ["s-dead"]
retry_intervals = [0]

[[channel]]
name = "archive"
type = "jsonl"
path = "alerts.jsonl"

[[channel]]
name = "terminal"
type = "console"
stories = ["s-chat"]
colour = true
""")
    client = redis.Redis.from_url(embedded.url)
    store = Store(client, namespace)
    log = config / "worker.log"
    env = dict(os.environ, REDIS_URL=embedded.url, STORYWATCH_CONFIG=str(config), SW_TEST_HOOK_SECRET=SECRET)
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "workers.cli", "--namespace", namespace, "worker", "-n", "1"],
                                  cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Deployment(store, config, receiver, mailbox, log,
                         cli_env={"REDIS_URL": embedded.url, "STORYWATCH_CONFIG": str(config)})
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        smtp.stop()
        http.shutdown()
        store.expire_all(60)
        assert SECRET not in log.read_text(errors="replace")


def stats(deployment: Deployment, channel: str) -> dict[str, str]:
    return deployment.store.delivery_stats(channel)


def test_webhook_signed_and_exactly_once_through_failures(deployment: Deployment) -> None:
    alert = make_alert("s-hook", "Twelve ships sailed.", conflict="Ten ships sailed.")
    assert deployment.send(alert) == 2  # the webhook and the archive
    got = wait_for(lambda: deployment.receiver.accepted["/hook"], "the webhook")
    assert [body["id"] for body in got] == [alert.id] and got[0]["severity"] == "high"
    assert deployment.receiver.requests["/hook"] == 3 and deployment.receiver.bad_signatures == 0
    # The stream is dispatched once, and a duplicate job (a restarted worker's) sends nothing.
    assert dispatch(deployment.store, deployment.config) == 0
    spec = next(s for s in load_channels(deployment.config) if s.name == "hook")
    job = enqueue_delivery(deployment.store, spec, {"id": alert.id, "alerts": [alert.to_dict()], "digest": False})
    wait_for(lambda: job.get_status(refresh=True) == "finished", "the duplicate job")
    assert job.return_value() == "already delivered"
    assert deployment.receiver.requests["/hook"] == 3
    assert stats(deployment, "hook")["sent"] == "1" and stats(deployment, "hook")["failed"] == "2"
    assert [r["id"] for r in deployment.jsonl()].count(alert.id) == 1


def test_apprise_json_target_gets_markdown(deployment: Deployment) -> None:
    alert = make_alert("s-chat", "The port reopened on Monday.", source="Courier")
    deployment.send(alert)
    (message,) = wait_for(lambda: deployment.receiver.accepted["/chat"], "the apprise json target")
    assert message["title"] == "[LOW] Story s-chat: 1 new fact"
    assert "> “The port reopened on Monday.”" in message["message"]
    assert f"[Courier]({alert.article['url']})" in message["message"]
    headline = "\033[36m[LOW] [story.updated] Story s-chat"
    wait_for(lambda: headline in deployment.log.read_text(errors="replace"), "the console channel")


def test_email_through_apprise_reaches_smtp(deployment: Deployment) -> None:
    alert = make_alert("s-mail", "Twelve ships sailed.", conflict="Ten ships sailed.", watched=True)
    deployment.send(alert)
    (mail,) = wait_for(lambda: deployment.mailbox.messages, "the e-mail")
    assert mail["Subject"] == "[CRITICAL] Story s-mail: 1 conflicting report"
    assert mail["To"] == "desk@example.org" and mail.get_content_type() == "text/plain"
    body = mail.get_payload(decode=True).decode("utf-8")
    assert "“Twelve ships sailed.”" in body and "“Ten ships sailed.”" in body
    assert f"Wire <{alert.article['url']}>" in body and "**" not in body


def test_cooldown_folds_three_updates_into_one_digest(deployment: Deployment) -> None:
    first = make_alert("s-calm", "Talks opened in Geneva.", created=True)
    updates = [make_alert("s-calm", f"Update number {n} was announced.") for n in (1, 2, 3)]
    deployment.send(first, *updates)
    received = deployment.receiver.accepted["/calm"]
    messages = wait_for(lambda: len(received) >= 2 and received, "the digest")
    assert "Talks opened in Geneva." in messages[0]["message"]
    digest = messages[1]
    assert digest["title"] == "[LOW] Story s-calm: 3 updates"
    assert all(f"Update number {n} was announced." in digest["message"] for n in (1, 2, 3))
    assert stats(deployment, "calm")["folded"] == "3" and stats(deployment, "calm")["sent"] == "2"


def test_dead_letters_visible_in_status_and_retried(deployment: Deployment) -> None:
    alert = make_alert("s-dead", "A bridge closed.")
    deployment.send(alert)
    env, ns = deployment.cli_env, ["--namespace", deployment.store.namespace]
    wait_for(lambda: deployment.store.dead_letters(), "the dead letter")
    status = run_cli(*ns, "alerts", "status", env=env)
    assert status.returncode == 0, status.stderr
    line = next(row for row in status.stdout.splitlines() if row.startswith("flaky"))
    assert "2 failed attempts    1 dead" in line
    assert "answered HTTP 503" in status.stdout and SECRET not in status.stdout
    dead = run_cli(*ns, "alerts", "dead", "--json", env=env)
    assert json.loads(dead.stdout)["delivery"]["id"] == alert.id
    deployment.receiver.down = False
    retried = run_cli(*ns, "alerts", "retry", "--channel", "flaky", env=env)
    assert "queued 1 dead letter" in retried.stdout, retried.stderr
    (body,) = wait_for(lambda: deployment.receiver.accepted["/down"], "the retried delivery")
    assert body["id"] == alert.id and deployment.store.dead_letters() == []


def test_muted_story_reaches_no_channel(deployment: Deployment) -> None:
    store = deployment.store
    story = Story(id="s-muted", title="Muted", watched=False, centroid=np.zeros(4, dtype=np.float32),
                  created_at="2026-01-01T00:00:00", updated_at="2026-01-01T00:00:00")
    store.save_watched(story, "fingerprint")
    env = deployment.cli_env
    muted = run_cli("--namespace", store.namespace, "story", "mute", "s-muted", env=env)
    assert muted.returncode == 0 and "muted" in muted.stdout, muted.stderr
    before = int(stats(deployment, "archive").get("muted", 0))
    deployment.send(make_alert("s-muted", "Nobody hears this."))
    wait_for(lambda: int(stats(deployment, "archive").get("muted", 0)) == before + 1, "the muted delivery")
    assert all(r["story"]["id"] != "s-muted" for r in deployment.jsonl())
    assert run_cli("--namespace", store.namespace, "story", "unmute", "s-muted", env=env).returncode == 0
    assert not store.is_muted("s-muted")


def test_other_namespaces_deliver_nothing(deployment: Deployment) -> None:
    replay = Store(deployment.store.client, f"replay-{uuid.uuid4().hex[:6]}")
    replay.append_alert(make_alert("s-hook", "From a replay."))
    assert dispatch(replay, deployment.config) == 0
    assert replay.group_backlog("_dispatch") == 0
    replay.expire_all(60)


# --- consumer-group readers -------------------------------------------------------------------------


def reader(url: str, namespace: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "workers.cli", "--namespace", namespace, "alerts", "--json", *extra],
                            cwd=PROJECT, env=dict(os.environ, REDIS_URL=url), stdout=subprocess.PIPE)


@pytest.mark.parametrize("resume_as", ["c1", "c2"])
def test_reader_killed_mid_stream_resumes_without_loss_or_repeat(embedded: EmbeddedServer, resume_as: str) -> None:
    store = Store(redis.Redis.from_url(embedded.url), f"t-group-{uuid.uuid4().hex[:8]}")
    # Alerts of 30 kB: the reader blocks writing to a pipe nobody reads, in the middle of the stream.
    alerts = [make_alert("s-g", f"Fact {n}. " + "word " * 6000) for n in range(10)]
    for alert in alerts:
        store.append_alert(alert)
    ids = [alert.id for alert in alerts]
    first = reader(embedded.url, store.namespace, "--group", "ops", "--consumer", "c1", "--follow")
    readings: list[int] = []

    def blocked() -> bool:
        readings.append(store.group_backlog("ops"))
        return len(readings) > 10 and 0 < readings[-1] == readings[-10]

    wait_for(blocked, "the reader to block mid-stream")
    first.kill()
    first.wait()
    assert first.stdout is not None
    *complete, partial = first.stdout.read().split(b"\n")
    printed = [json.loads(line)["id"] for line in complete]
    assert 0 < len(printed) < 10 and partial  # killed while writing an alert it never acknowledged
    # Resumed as the same reader (its own pending alerts) or by another one taking the dead one's over.
    rest = run_cli("--namespace", store.namespace, "alerts", "--json", "--group", "ops", "--consumer", resume_as,
                   "--claim-idle", "0", env={"REDIS_URL": embedded.url})
    assert rest.returncode == 0, rest.stderr
    assert printed + [json.loads(line)["id"] for line in rest.stdout.splitlines()] == ids
    again = run_cli("--namespace", store.namespace, "alerts", "--group", "ops", env={"REDIS_URL": embedded.url})
    assert again.stdout == ""
    store.expire_all(60)


def test_two_readers_share_a_group(embedded: EmbeddedServer) -> None:
    store = Store(redis.Redis.from_url(embedded.url), f"t-group-{uuid.uuid4().hex[:8]}")
    store.ensure_group("desk")
    readers = {name: reader(embedded.url, store.namespace, "--group", "desk", "--consumer", name, "--follow")
               for name in ("a", "b")}
    got: dict[str, list[str]] = {name: [] for name in readers}

    def collect(name: str) -> None:
        stdout = readers[name].stdout
        assert stdout is not None
        for line in stdout:
            got[name].append(json.loads(line)["id"])

    threads = [threading.Thread(target=collect, args=(name,), daemon=True) for name in readers]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(store.client.xinfo_consumers(store.key("alerts"), "desk")) == 2, "both readers")
    sent = []
    for n in range(8):
        alert = make_alert("s-share", f"Shared fact {n}.")
        store.append_alert(alert)
        sent.append(alert.id)
        # One at a time, so each goes to whichever reader waits longest.
        wait_for(lambda n=n: len(got["a"]) + len(got["b"]) == n + 1, "a reader to print")
    for process in readers.values():
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert sorted(got["a"] + got["b"]) == sorted(sent) and got["a"] and got["b"]
    store.expire_all(60)
