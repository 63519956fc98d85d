"""`storywatch`: the command line. A thin layer; heavy modules are imported inside the commands."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import PROJECT_ROOT, ConfigError, Settings, load_feeds, load_settings
from pipeline.corpus import CorpusError

if TYPE_CHECKING:
    from pipeline.curation import Merge, Move
    from workers.curate import AlreadyDone

EPILOG = """\
examples:
  storywatch replay                      replay seeds/ through the queue and workers, print alerts
  storywatch replay corpus/ --json -w 4  replay another corpus with 4 workers, JSON alerts
  storywatch server start                start the embedded Valkey (skip when REDIS_URL is set)
  storywatch worker -n 4                 run 4 worker processes until SIGTERM
  storywatch poller                      poll config/feeds.toml on the feeds' intervals
  storywatch feeds list                  each feed's last success, next poll, failures
  storywatch alerts --follow --json      stream alerts as JSON lines
  storywatch stories / story ID          list stories / show a story's fact ledger
  storywatch alerts -f --group ops       read alerts through a consumer group (resumes after a crash)
  storywatch alerts status               what each channel sent, what failed and why
  storywatch story mute ID               stop delivering a story's alerts (unmute ID to resume)
  storywatch story merge A B             repair by hand: fold story B into A (also: move, detach)
  storywatch failed list | retry         failed articles with their reasons / queue them again
  storywatch status --json               queues, lag, workers, failures by cause, integration pointer

REDIS_URL=redis://host:6379/0 points every command at an external Redis or Valkey.
"""


def _settings(args: argparse.Namespace) -> Settings:
    if args.config:
        # Worker processes and their jobs read the config through the environment.
        os.environ["STORYWATCH_CONFIG"] = str(Path(args.config).resolve())
    settings = load_settings(Path(args.config) if args.config else None)
    if args.namespace:
        settings = replace(settings, namespace=args.namespace)
    return settings


def _endpoint(settings: Settings, start: bool = True) -> Any:
    from workers.connection import endpoint

    return endpoint(settings, start=start)


def _store(args: argparse.Namespace) -> Any:
    from workers.store import Store

    settings = _settings(args)
    return Store(_endpoint(settings).client(), settings.namespace)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def cmd_server(args: argparse.Namespace) -> int:
    from workers.server import EmbeddedServer

    settings = _settings(args)
    if os.environ.get("REDIS_URL") and args.action != "status":
        print("REDIS_URL is set: storywatch uses that server and manages none of its own.", file=sys.stderr)
        return 1
    server = EmbeddedServer(settings.data_dir)
    if args.action == "start":
        started = server.start()
        print(f"{'started' if started else 'already running'}: {server.url}")
    elif args.action == "stop":
        print("stopped" if server.stop() else "not running")
    else:
        info = server.info()
        if args.json:
            _print_json(info)
        else:
            for key, value in info.items():
                print(f"{key:>12}: {value}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.same_event import load_model
    from workers.fleet import run_fleet
    from workers.store import Store

    # A broken model file is said once here, not by every job of every worker.
    load_model()
    settings = _settings(args)
    endpoint = _endpoint(settings)
    queue_name = Store(endpoint.client(), settings.namespace).queue_name
    run_fleet(endpoint, queue_name, args.workers or settings.workers, burst=args.burst,
              logging_level=args.log_level)
    return 0


def cmd_poller(args: argparse.Namespace) -> int:
    import signal

    from workers.poller import Poller

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = _settings(args)
    feeds = load_feeds(settings.config_dir)
    from workers.store import Store

    poller = Poller(Store(_endpoint(settings).client(patient=True), settings.namespace), settings)
    if args.once:
        for feed in feeds:
            result = poller.poll(feed)
            print(f"{feed.url}: {result.status}, {len(result.new)} new")
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    poller.run(feeds, stop)
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from workers import feedlist

    return feedlist.run(args, _settings(args), lambda: _store(args))


def _alert_printer(as_json: bool) -> Callable[[Any], None]:
    from pipeline.alerts import format_alert

    def emit(alert: Any) -> None:
        if as_json:
            _print_json(alert.to_dict())
        else:
            print(format_alert(alert) + "\n", flush=True)

    return emit


def cmd_replay(args: argparse.Namespace) -> int:
    from pipeline.corpus import read_corpus
    from pipeline.same_event import load_model
    from workers.replay import replay

    load_model()
    documents = read_corpus(Path(args.dir))
    settings = _settings(args)
    endpoint = _endpoint(settings)
    try:
        store = replay(documents, endpoint, settings, workers=args.workers, emit=_alert_printer(args.json),
                       progress=None if args.quiet else sys.stderr, namespace=args.namespace)
        from rq.registry import FailedJobRegistry

        from workers.queues import article_queue

        failed = FailedJobRegistry(queue=article_queue(store)).count
        if failed:
            print(f"storywatch: {failed} of {len(documents)} documents failed; see why with: "
                  f"storywatch --namespace {store.namespace} failed list", file=sys.stderr)
        if not args.quiet:
            print(f"replay done: {len(documents)} documents, namespace {store.namespace} "
                  f"(inspect with: storywatch --namespace {store.namespace} stories)", file=sys.stderr)
    finally:
        if endpoint.server is not None and endpoint.server.started_here:
            endpoint.server.stop()
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    if args.action:
        return _ALERT_ACTIONS[args.action](args)
    store = _store(args)
    emit = _alert_printer(args.json)
    if args.group:
        return _read_group(args, store, emit)
    last = "-"
    for entry_id, alert in store.alerts(count=args.limit):
        emit(alert)
        last = entry_id
    if args.follow:
        last = "0-0" if last == "-" else last
        try:
            while True:
                for entry_id, alert in store.wait_alerts(last, block_ms=5000):
                    emit(alert)
                    last = entry_id
        except KeyboardInterrupt:
            return 0
    return 0


def _read_group(args: argparse.Namespace, store: Any, emit: Callable[[Any], None]) -> int:
    import socket

    from workers.delivery import read_group

    if args.group.startswith("_"):
        print(f"storywatch: error: group names starting with '_' are storywatch's own: {args.group!r}", file=sys.stderr)
        return 2
    consumer = args.consumer or socket.gethostname()
    try:
        for entry_id, alert in read_group(store, args.group, consumer, follow=args.follow,
                                          claim_idle_ms=int(args.claim_idle * 1000)):
            if alert is not None:
                emit(alert)
            # Acknowledged only once printed: a reader killed before this line gets the alert again.
            store.ack(args.group, entry_id)
    except KeyboardInterrupt:
        return 0
    return 0


def _alerts_status(args: argparse.Namespace) -> int:
    from workers.delivery import DISPATCH_GROUP, channel_status, delivering_namespace

    store = _store(args)
    rows = channel_status(store, Path(args.config) if args.config else None)
    if args.json:
        for row in rows:
            _print_json(row)
        return 0
    if not rows:
        print("no [[channel]] configured in storywatch.toml")
    for row in rows:
        print(f"{row['channel']:<20} {row['type']:<8} {row['sent']:>6} sent {row['folded']:>5} folded "
              f"{row['muted']:>5} muted {row['failed']:>5} failed attempts {row['dead']:>4} dead"
              f"   last sent {row['last_sent_at'] or 'never'}")
        if row["last_error"]:
            print(f"{'':<20} last error {row['last_error_at']}: {row['last_error']}")
    waiting = store.group_backlog(DISPATCH_GROUP)
    config = Path(args.config) if args.config else None
    print(f"alerts not yet dispatched: {waiting}" + ("" if store.namespace == delivering_namespace(config)
          else f" (channels deliver only namespace {delivering_namespace(config)!r})"))
    if store.muted():
        print("muted stories: " + ", ".join(store.muted()))
    return 0


def _alerts_dead(args: argparse.Namespace) -> int:
    letters = _store(args).dead_letters()
    for letter in letters:
        if args.json:
            _print_json(letter)
            continue
        first = letter["delivery"]["alerts"][0]
        print(f"{letter['at']}  {letter['channel']:<20} {letter['delivery']['id']}  story {first['story'].get('id')}"
              f"  ({len(letter['delivery']['alerts'])} alert(s)): {letter['error']}")
    if not letters and not args.json:
        print("no dead letters")
    return 0


def _alerts_retry(args: argparse.Namespace) -> int:
    from workers.delivery import retry_dead

    count = retry_dead(_store(args), args.channel, Path(args.config) if args.config else None)
    print(f"queued {count} dead letter(s) again")
    return 0


_ALERT_ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": _alerts_status, "dead": _alerts_dead, "retry": _alerts_retry}


def cmd_stories(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = []
    for story in store.stories():
        ledger = store.ledger(story.id)
        rows.append({"id": story.id, "title": story.title, "watched": story.watched,
                     "articles": len(story.article_ids), "sources": len(set(story.sources)),
                     "facts": len(ledger.facts), "contradictions": len(ledger.contradictions),
                     "updated_at": story.updated_at})
    if args.json:
        for row in rows:
            _print_json(row)
        return 0
    if not rows:
        print(f"no stories in namespace {store.namespace}")
    for row in rows:
        mark = "*" if row["watched"] else " "
        print(f"{mark} {row['id']:<28} {row['articles']:>3} articles {row['sources']:>3} sources "
              f"{row['facts']:>4} facts {row['contradictions']:>2} contradictions  {row['title'][:60]}")
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    from pipeline.timeline import format_timeline

    if args.id in _REPAIRS:
        return _repair(args)
    store = _store(args)
    if args.rest:
        return _mute(store, args.id, " ".join(args.rest))
    story = store.story(args.id)
    if story is None:
        print(f"storywatch: no story {args.id!r} in namespace {store.namespace}", file=sys.stderr)
        return 1
    ledger = store.ledger(story.id)
    if args.json:
        _print_json({"story": {k: v for k, v in story.to_dict().items() if k != "centroid"},
                     "ledger": ledger_json(ledger)})
    else:
        print(format_timeline(story, ledger))
    return 0


def _mute(store: Any, action: str, story_id: str) -> int:
    if action not in ("mute", "unmute"):
        print(f"storywatch: error: story takes ID, mute ID or unmute ID, not {action!r} {story_id!r}", file=sys.stderr)
        return 2
    if store.story(story_id) is None:
        print(f"storywatch: no story {story_id!r} in namespace {store.namespace}", file=sys.stderr)
        return 1
    changed = store.mute(story_id, action == "mute")
    state = "muted: no channel delivers its alerts" if action == "mute" else "unmuted"
    print(f"{story_id} {state}" + ("" if changed else " (it already was)"))
    return 0


# Each repair's operands, as the usage line names them.
_REPAIRS: dict[str, tuple[str, ...]] = {"merge": ("A", "B"), "move": ("ARTICLE", "STORY"), "detach": ("ARTICLE",)}


def _repair(args: argparse.Namespace) -> int:
    """`story merge A B`, `story move ARTICLE STORY`, `story detach ARTICLE`: see workers/curate.py."""
    names = _REPAIRS[args.id]
    if len(args.rest) != len(names):
        print(f"storywatch: error: story {args.id} takes {' '.join(names)}, got {' '.join(args.rest) or 'nothing'}",
              file=sys.stderr)
        return 2
    from pipeline.curation import CurationError
    from pipeline.stories import StorySettings
    from workers.curate import UnknownId, merge_stories, move_article

    settings = _settings(args)
    stories = StorySettings.timed(settings.story_assumed_gap_hours, settings.story_quiet_gaps)
    store = _store(args)
    try:
        if args.id == "merge":
            done = merge_stories(store, args.rest[0], args.rest[1], stories)
        else:
            done = move_article(store, args.rest[0], args.rest[1] if args.id == "move" else None, stories)
    except UnknownId as exc:
        print(f"storywatch: error: {exc}", file=sys.stderr)
        return 2
    except CurationError as exc:
        print(f"storywatch: error: {exc}", file=sys.stderr)
        return 1
    report = _repair_report(args.id, done)
    if args.json:
        _print_json(report)
    else:
        print(report["message"])
    return 0


def _repair_report(action: str, done: Merge | Move | AlreadyDone) -> dict[str, Any]:
    from pipeline.curation import Merge
    from workers.curate import AlreadyDone

    if isinstance(done, AlreadyDone):
        return {"action": action, "changed": False, "message": done.message}
    alert = done.alert
    if isinstance(done, Merge):
        return {"action": action, "changed": True, "kept": done.kept.id, "removed": done.gone.id,
                "articles": len(done.kept.article_ids), "facts": len(done.ledger.facts), "alert": alert.id,
                "message": f"merged story {done.gone.id} into {done.kept.id}: {len(done.kept.article_ids)} "
                f"articles, {len(done.ledger.facts)} facts; alert {alert.id}"}
    counts = (f"{len(alert.new_facts)} new fact(s), {len(alert.contradictions)} contradiction(s), "
              f"{alert.corroborated} confirmed")
    where = "a new story " if done.created else "story "
    gone = f"; story {done.origin.id} had no article left and was removed" if done.origin_removed else ""
    return {"action": action, "changed": True, "article": done.article_id, "from": done.origin.id,
            "to": done.target.id, "created": done.created, "from_removed": done.origin_removed,
            "new_facts": len(alert.new_facts), "contradictions": len(alert.contradictions),
            "corroborated": alert.corroborated, "alert": alert.id,
            "message": f"moved article {done.article_id} from story {done.origin.id} to {where}{done.target.id}: "
            f"{counts}{gone}; alert {alert.id}"}


def ledger_json(ledger: Any) -> dict[str, Any]:
    data = ledger.to_dict()
    for fact in data["facts"]:
        fact.pop("vector", None)
    return data


def cmd_failed(args: argparse.Namespace) -> int:
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    from workers.queues import article_queue

    store = _store(args)
    registry = FailedJobRegistry(queue=article_queue(store))
    ids = args.ids or registry.get_job_ids()
    if args.action == "list":
        for job in Job.fetch_many(ids, connection=store.client):
            if job is None:
                continue
            reason = (job.latest_result().exc_string if job.latest_result() else "") or ""
            last = reason.strip().splitlines()[-1] if reason.strip() else "unknown"
            row = {"job": job.id, "article": job.args[1].get("article_id") if len(job.args) > 1 else None,
                   "url": job.args[1].get("url") if len(job.args) > 1 else None,
                   "ended_at": job.ended_at.isoformat() if job.ended_at else None, "reason": last}
            if args.json:
                _print_json(row)
            else:
                print(f"{row['job']}  {row['url']}\n    {row['reason']}")
        if not ids and not args.json:
            print(f"no failed jobs in namespace {store.namespace}")
        return 0
    for job_id in ids:
        if args.action == "retry":
            registry.requeue(job_id)
        else:
            registry.remove(job_id, delete_job=True)
    print(f"{'requeued' if args.action == 'retry' else 'purged'} {len(ids)} failed job(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from workers.status import collect, format_status

    status = collect(_store(args))
    if args.json:
        _print_json(status)
    else:
        print(format_status(status))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from pipeline.cluster import cluster_file
    from pipeline.same_event import load_model
    from pipeline.stories import StorySettings

    config = _settings(args)
    story_settings = StorySettings.timed(args.assumed_gap_hours or config.story_assumed_gap_hours,
                                         args.quiet_gaps or config.story_quiet_gaps)
    load_model(story_settings.model_path)

    try:
        with contextlib.ExitStack() as stack:
            output = stack.enter_context(open(args.output, "w", encoding="utf-8")) if args.output else sys.stdout
            stats = cluster_file(Path(args.input), output, progress=None if args.quiet else sys.stderr,
                                 entities=not args.no_entities, settings=story_settings)
    except (OSError, ValueError) as exc:
        print(f"storywatch: error: {args.input}: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"clustered {stats.articles} articles into {stats.stories} stories ({stats.merges} merges), "
              f"{stats.articles_per_second:.0f} articles/s", file=sys.stderr)
    return 0


def _positive(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return number


def _add_common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--config", metavar="DIR", default=default,
                        help="config folder (default: config/ of the project, or $STORYWATCH_CONFIG)")
    parser.add_argument("--namespace", metavar="NS", default=default,
                        help="key namespace on the server (default: [runtime] namespace of the config)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storywatch",
        description="Watch news feeds, group articles into stories, and alert on new and conflicting facts.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(parser, default=None)
    # The same options after the command name too: `storywatch stories --namespace X`.
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser

    def with_common(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add(name, parents=[common], **kwargs)

    sub.add_parser = with_common  # type: ignore[method-assign]

    server = sub.add_parser("server", help="start, stop or inspect the embedded Valkey server")
    server.add_argument("action", choices=["start", "stop", "status"])
    server.add_argument("--json", action="store_true", help="status as JSON")
    server.set_defaults(func=cmd_server)

    worker = sub.add_parser("worker", help="run a pool of worker processes until SIGTERM")
    worker.add_argument("-n", "--workers", type=int, help="worker processes (default: [workers] count)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    worker.set_defaults(func=cmd_worker)

    poller = sub.add_parser("poller", help="poll config/feeds.toml and queue new articles")
    poller.add_argument("--once", action="store_true", help="poll every feed once and exit")
    poller.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    poller.set_defaults(func=cmd_poller)

    feeds = sub.add_parser("feeds", help="add, remove, list, import or export feeds; poll one now")
    feeds_sub = feeds.add_subparsers(dest="action", required=True, metavar="ACTION")
    feeds_sub.add_parser = functools.partial(feeds_sub.add_parser, parents=[common])  # type: ignore[method-assign]
    feeds_add = feeds_sub.add_parser("add", help="add a feed (or a site's page: its feed is discovered)")
    feeds_add.add_argument("url")
    feeds_add.add_argument("--name", help="label shown in alerts and lists")
    feeds_add.add_argument("--interval", type=int, help="seconds between polls, adapted to the feed later")
    feeds_add.add_argument("--tag", action="append", help="a tag (repeat for more)")
    feeds_add.add_argument("--allow-private", action="store_true", help="allow private/loopback addresses")
    feeds_sub.add_parser("remove", help="remove a feed").add_argument("url", help="URL or name")
    feeds_list = feeds_sub.add_parser("list", help="each feed's last success, status, next poll, failures")
    feeds_list.add_argument("--json", action="store_true")
    feeds_sub.add_parser("enable", help="enable a disabled feed again").add_argument("url", help="URL or name")
    feeds_sub.add_parser("import-opml", help="add the feeds of an OPML file").add_argument("file")
    feeds_sub.add_parser("export-opml", help="write the feeds as OPML").add_argument(
        "file", nargs="?", help="output file (default: stdout)")
    feeds_poll = feeds_sub.add_parser("poll", help="poll one feed now and print what it queued")
    feeds_poll.add_argument("url", help="URL or name")
    feeds_poll.add_argument("--once", action="store_true", help="poll once (the only mode; `poller` keeps going)")
    feeds_poll.add_argument("--json", action="store_true")
    feeds_poll.add_argument("--allow-private", action="store_true", help="for a URL not in feeds.toml")
    feeds.set_defaults(func=cmd_feeds)

    replay = sub.add_parser("replay", help="replay a folder of documents as a live stream and print alerts",
                            description="Serve DIR (one .txt per document, file-name order; a first line "
                            "' date YYYY-MM-DD' is the publication date) as a feed on loopback, and let the "
                            "real poller and worker processes take it from there.")
    replay.add_argument("dir", nargs="?", default=str(PROJECT_ROOT / "seeds"), metavar="DIR",
                        help="corpus folder (default: seeds/)")
    replay.add_argument("-w", "--workers", type=int, default=2, help="worker processes (default: 2)")
    replay.add_argument("--json", action="store_true", help="alerts as JSON lines")
    replay.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    replay.set_defaults(func=cmd_replay)

    alerts = sub.add_parser("alerts", help="print the alert stream, or inspect deliveries to channels")
    alerts.add_argument("action", nargs="?", choices=["status", "dead", "retry"],
                        help="status: per channel what was sent and what failed and why; dead: list dead "
                        "letters; retry: queue dead letters again")
    alerts.add_argument("--follow", "-f", action="store_true", help="keep printing new alerts")
    alerts.add_argument("--json", action="store_true", help="one JSON object a line")
    alerts.add_argument("--limit", type=int, default=1000, help="at most this many past alerts")
    alerts.add_argument("--group", metavar="NAME", help="read through consumer group NAME: each alert once per "
                        "group, acknowledged after printing; a restarted reader resumes where it stopped")
    alerts.add_argument("--consumer", metavar="NAME", help="this reader's name in the group (default: the host "
                        "name; give readers that share a group names of their own)")
    alerts.add_argument("--claim-idle", type=float, default=60.0, metavar="SECONDS",
                        help="take over alerts another reader of the group left unacknowledged this long")
    alerts.add_argument("--channel", metavar="NAME", help="with retry: only this channel's dead letters")
    alerts.set_defaults(func=cmd_alerts)

    stories = sub.add_parser("stories", help="list stories with article, source and contradiction counts")
    stories.add_argument("--json", action="store_true")
    stories.set_defaults(func=cmd_stories)

    story = sub.add_parser(
        "story", help="show a story's fact ledger, mute it, or repair stories by hand (merge, move, detach)",
        usage="storywatch story [-h] [--json] {ID | mute ID | unmute ID | merge A B | move ARTICLE STORY | "
        "detach ARTICLE}", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Show a story's fact ledger as a timeline, mute or unmute it, or repair story mistakes by hand. "
        "A repair takes the integration lock, so running workers wait for it and then see it; it raises one "
        "alert saying a person made it, and running it again changes nothing.",
        epilog="""examples:
  storywatch story 3f2a9c01d4e5b6a7             the story's facts in the order they were reported
  storywatch story merge 3f2a9c01d4e5b6a7 9b8c  fold story 9b8c into 3f2a... (a watched story is always
                                                the one kept; two watched stories are never merged)
  storywatch story move nyt-0412 3f2a9c01d4e5b6a7   the article's facts leave its story and meet this one's
                                                ledger: the alert says what is new or conflicting there
  storywatch story detach nyt-0412 --json       the article starts a story of its own

Unknown story or article ids exit with status 2; a refused repair exits with status 1.""")
    story.add_argument("id", help="the story, or mute / unmute / merge / move / detach followed by its operands")
    story.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    story.add_argument("--json", action="store_true")
    story.set_defaults(func=cmd_story)

    failed = sub.add_parser("failed", help="list, retry or purge failed article jobs",
                            description="Articles that failed for good (after their retries) stay in RQ's "
                            "failed registry with the reason; retry them once the cause is fixed.")
    failed.add_argument("action", choices=["list", "retry", "purge"])
    failed.add_argument("ids", nargs="*", metavar="JOB", help="job ids (default: every failed job)")
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(func=cmd_failed)

    status = sub.add_parser("status", help="queues and their lag, workers and their heartbeats, failures by "
                            "cause, stories, and the integration pointer")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(func=cmd_status)

    cluster = sub.add_parser("cluster", help="cluster a JSONL stream into stories offline (no server)")
    cluster.add_argument("--input", required=True, help='JSONL of {"id","time","title","text"}')
    cluster.add_argument("--output", help='JSONL of {"id","story"} (default: stdout)')
    cluster.add_argument("--no-entities", action="store_true",
                         help="skip named-entity recognition: faster, slightly less precise")
    cluster.add_argument("--assumed-gap-hours", type=_positive, metavar="HOURS",
                         help="the gap between articles assumed of a story that has only one (default: [stories] "
                         "assumed_gap_hours of the config, 12): raise it for a stream whose follow-ups come days "
                         "apart")
    cluster.add_argument("--quiet-gaps", type=_positive, metavar="N",
                         help="a story cools halfway after this many of its usual gaps between articles without "
                         "one (default: [stories] quiet_gaps of the config, 6)")
    cluster.add_argument("-q", "--quiet", action="store_true")
    cluster.set_defaults(func=cmd_cluster)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.same_event import ModelFileError
    from workers.connection import RedisUnavailable
    from workers.replay import ReplayError
    from workers.server import ServerError

    try:
        return int(args.func(args) or 0)
    except (ConfigError, CorpusError, ModelFileError, RedisUnavailable, ServerError, ReplayError) as exc:
        print(f"storywatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
