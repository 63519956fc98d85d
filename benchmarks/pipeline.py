"""End-to-end speed on real article pages: the real poller, queue and worker fleet, and where the time goes.

    .venv/bin/python benchmarks/pipeline.py [--pages N] [--workers 2] [--stories 10000]

The 181 pages of the article-extraction benchmark (``../shared/data/article-extraction``) are served,
repeated under unique URLs up to ``--pages``, from a loopback HTTP server with an Atom feed. An
embedded Valkey in a temporary directory holds the queue; ``storywatch worker -n W`` processes take
the articles once ``Poller.poll`` has queued them. Printed, all measured in this run:

- in one process first: extraction word-shingle F1 against ``ground-truth.json`` (the benchmark's own
  scorer) and pages/s, spaCy documents/s, and the embedding ceiling of each backend on the claims
  of those pages (sentences/s, one thread), with the torch/onnx ratio;
- the fleet: articles/s end to end, seconds per article in each stage (from the jobs' results),
  latency from poll to alert (p50/p95), peak RSS of each worker process, and the embedding rate
  inside the workers against the ceiling;
- story assignment with ``--stories`` active stories: ``StoryIndex.assign`` per article; loading the
  index from Redis (what a worker does once, or when it falls behind the stories' change log); and
  bringing a worker's index up to date when another worker changed one story (what the integration
  step does each time it takes the lock).

Prints numbers only: no asserts. The machine is shared: run it on a quiet one for figures to quote.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.analysis import Analyser  # noqa: E402
from pipeline.config import Feed, load_settings  # noqa: E402
from pipeline.corpus import Document  # noqa: E402
from pipeline.embed import Embedder  # noqa: E402
from pipeline.extract import ExtractError, extract_article  # noqa: E402
from pipeline.models import AnalysedArticle, Article, Story  # noqa: E402
from pipeline.stories import StoryIndex  # noqa: E402
from workers.connection import Endpoint  # noqa: E402
from workers.loopback import LoopbackSite, Response  # noqa: E402
from workers.poller import Poller  # noqa: E402
from workers.replay import corpus_responder, start_fleet, stop_fleet  # noqa: E402
from workers.server import EmbeddedServer  # noqa: E402
from workers.store import Store  # noqa: E402
from workers.story_cache import StoryCache  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "article-extraction"
STAGES = ("fetch", "extract", "claims", "embed", "integrate")
_TOKEN = re.compile(r"\w+")


# --- extraction quality ------------------------------------------------------------------------

def shingles(text: str, n: int = 4) -> Counter[str]:
    """Word 4-grams with counts, as the article-extraction benchmark's scorer makes them."""
    tokens = _TOKEN.findall(text or "")
    return Counter(" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def shingle_counts(truth: str, found: str) -> tuple[float, float, float]:
    """True positives, false positives, false negatives over shingles, normalised to sum to one per page
    (so that long pages do not outweigh short ones), as the benchmark does."""
    a, b = shingles(truth), shingles(found)
    tp = sum((a & b).values())
    fp, fn = sum((b - a).values()), sum((a - b).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def precision_recall_f1(counts: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    tp, fp, fn = (sum(column) for column in zip(*counts, strict=True))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return precision, recall, 2 * precision * recall / (precision + recall)


# --- the pages -----------------------------------------------------------------------------------

class Page:
    def __init__(self, path: Path, truth: dict[str, str]) -> None:
        self.id = path.name.removesuffix(".html.gz")
        self.html = gzip.decompress(path.read_bytes())
        self.truth = truth.get("articleBody", "")
        self.url = truth.get("url", "")


def load_pages() -> list[Page]:
    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    return [Page(path, truth.get(path.name.removesuffix(".html.gz"), {}))
            for path in sorted((DATA / "html").glob("*.html.gz"))]


class PageSite:
    """``/feed.xml`` listing ``count`` entries, and ``/articles/{id}.html``, each a page of the corpus."""

    def __init__(self, pages: list[Page], count: int) -> None:
        ids = [f"page{i:05d}-{pages[i % len(pages)].id[:8]}" for i in range(count)]
        by_path = {f"/articles/{article_id}.html": pages[i % len(pages)].html for i, article_id in enumerate(ids)}
        # The feed is built from documents; a page's first ground-truth line makes its title.
        documents = [Document(id=article_id, text=pages[i % len(pages)].truth or article_id, published=None,
                              path=Path(article_id)) for i, article_id in enumerate(ids)]
        feed = corpus_responder(documents)

        def respond(path: str, headers: dict[str, str]) -> Response | None:
            page = by_path.get(path)
            return (200, {"Content-Type": "text/html"}, page) if page is not None else feed(path, headers)

        self.loopback = LoopbackSite(respond)
        self.base_url = self.loopback.base_url
        self.page_of = {article_id: pages[i % len(pages)] for i, article_id in enumerate(ids)}

    def close(self) -> None:
        self.loopback.close()


# --- one process: quality and ceilings ------------------------------------------------------------

def in_process(pages: list[Page]) -> tuple[dict[str, int], list[AnalysedArticle], float]:
    """Extraction F1 and speed, spaCy speed, the embedding ceiling; returns the sentences embedded per
    page id, the analysed pages and the fastest backend's sentences/s."""
    articles: dict[str, Article] = {}
    counts = []
    started = time.perf_counter()
    for page in pages:
        try:
            article = extract_article(page.html.decode("utf-8", "replace"), page.url or "http://example.com/",
                                      page.id)
        except ExtractError:
            article = None
        if article is not None:
            articles[page.id] = article
        counts.append(shingle_counts(page.truth, article.text if article else ""))
    extract_s = time.perf_counter() - started
    precision, recall, f1 = precision_recall_f1(counts)
    print(f"extraction: word-shingle F1 {f1:.3f} (P {precision:.3f}, R {recall:.3f}) on {len(pages)} pages "
          f"[trafilatura 2.0.0 published: 0.958, P 0.938, R 0.978]; {len(pages) / extract_s:.1f} pages/s")

    analyser = Analyser(threads=1)
    analyser.analyse(next(iter(articles.values())))  # load the models before timing
    timings: dict[str, float] = {}
    analysed = [analyser.analyse(article, timings) for article in articles.values()]
    sentences = [claim.text for item in analysed for claim in item.claims]
    print(f"spaCy claims: {len(articles) / timings['claims']:.1f} articles/s "
          f"({len(sentences) / len(articles):.1f} claims per article)")
    print(f"embedding as the workers do it (one call per article, {analyser.embedder.backend}): "
          f"{len(sentences) / timings['embed']:.0f} sentences/s")
    # Every fourth claim keeps the mix of lengths and keeps torch's turn short.
    sample = sentences[::4]
    rates = {}
    for backend in ("torch", "onnx"):
        embedder = Embedder(threads=1, backend=backend)
        embedder.encode(sample[:64])
        tick = time.perf_counter()
        embedder.encode(sample)
        rates[backend] = len(sample) / (time.perf_counter() - tick)
        note = f"; agreement with torch: mean cosine {embedder.agreement:.4f}" if embedder.agreement else ""
        print(f"embedding ceiling, {backend}: {rates[backend]:.0f} sentences/s on one thread, batches of 64 "
              f"({len(sample)} claim sentences{note})")
    print(f"embedding: onnx/torch = {rates['onnx'] / rates['torch']:.2f}x")
    # An article without claims embeds its title instead.
    per_page = {page_id: max(1, len(item.claims)) for page_id, item in zip(articles, analysed, strict=True)}
    return per_page, analysed, max(rates.values())


# --- the fleet -----------------------------------------------------------------------------------

def process_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def command_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[-60:]


def fleet_pids(group: int) -> list[int]:
    """The processes of the fleet's session: the pool parent and its workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == group:
                pids.append(int(entry.name))
    return sorted(pids)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time a process has used; None once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all processes on the machine have used (every core but idle and iowait)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100)) if values else float("nan")


def run_fleet(pages: list[Page], count: int, workers: int, claims_per_page: dict[str, int],
              ceiling: float, data_dir: Path) -> None:
    from rq import Queue, Worker
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    settings = load_settings()
    server = EmbeddedServer(data_dir / "valkey")
    server.start()
    endpoint = Endpoint(url=server.url)
    store = Store(endpoint.client(patient=True), f"bench-{uuid.uuid4().hex[:8]}")
    site = PageSite(pages, count)
    fleet = start_fleet(endpoint, settings, store.namespace, workers, data_dir / "fleet.log")
    try:
        queue = Queue(store.queue_name, connection=store.client)
        loading = time.perf_counter()
        # Workers register once their models are warm, so the clock starts with warm workers.
        while len(Worker.all(queue=queue)) < workers:
            if fleet.poll() is not None:
                raise SystemExit(f"the fleet exited; see {data_dir / 'fleet.log'}")
            time.sleep(0.1)
        print(f"fleet: {workers} workers warm after {time.perf_counter() - loading:.1f}s")
        workers_pids = fleet_pids(fleet.pid)
        cpu_before = {pid: cpu_seconds(pid) for pid in workers_pids}
        busy_before, own_before = machine_busy(), time.process_time()
        started = time.perf_counter()
        Poller(store, settings).poll(Feed(url=f"{site.base_url}/feed.xml", name="bench", allow_private=True))
        queued = time.perf_counter()
        total = store.last_sequence()
        while store.next_to_integrate() - 1 < total:
            if fleet.poll() is not None:
                raise SystemExit(f"the fleet exited; see {data_dir / 'fleet.log'}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu_after = {pid: cpu_seconds(pid) for pid in workers_pids}
        gone = [pid for pid, seconds in cpu_after.items() if seconds is None]
        fleet_cpu = sum((cpu_after[pid] or 0.0) - (cpu_before[pid] or 0.0) for pid in workers_pids if pid not in gone)
        machine_cpu, own_cpu = machine_busy() - busy_before, time.process_time() - own_before
        memory = {pid: (command_of(pid), process_memory(pid)) for pid in fleet_pids(fleet.pid)}
    finally:
        stop_fleet(fleet)
        site.close()

    print(f"end to end: {total} articles in {elapsed:.1f}s = {total / elapsed:.2f} articles/s "
          f"with {workers} workers (polling and queueing took {queued - started:.1f}s)")
    finished = Job.fetch_many(FinishedJobRegistry(queue=queue).get_job_ids(), connection=store.client)
    failed = FailedJobRegistry(queue=queue).get_job_ids()
    jobs = [job for job in finished if job is not None]
    results = [(job, job.return_value()) for job in jobs]
    timed = [(job, result) for job, result in results if isinstance(result, dict) and "timings" in result]
    if failed:
        print(f"failed jobs: {len(failed)} (e.g. no article text in the page), skipped in the stream")
    print(f"seconds per article in the workers ({len(timed)} analysed):")
    busy = 0.0
    for stage in STAGES:
        seconds = [result["timings"].get(stage, 0.0) for _, result in timed]
        busy += sum(seconds)
        print(f"  {stage:<9} mean {statistics.fmean(seconds) * 1000:7.1f} ms   "
              f"p95 {percentile(seconds, 0.95) * 1000:7.1f} ms")
    print(f"  worker busy share of wall time: {busy / (elapsed * workers):.0%}")
    if gone:
        print(f"processes of the fleet that exited during the run (their CPU time is not counted): {gone}; "
              f"the fleet log ends:")
        print(*(data_dir / "fleet.log").read_text(errors="replace").splitlines()[-10:], sep="\n")
    cores = os.cpu_count() or 1
    others = machine_cpu - fleet_cpu - own_cpu
    print(f"CPU during the run: the workers used {fleet_cpu:.0f} CPU-s of the {elapsed * cores:.0f} the {cores} cores "
          f"had; this process (HTTP server, poller) {own_cpu:.0f}; other processes on the machine {others:.0f}")
    per_article = fleet_cpu / total
    print(f"  worker CPU per article {per_article * 1000:.0f} ms: with {workers} cores to themselves the workers "
          f"would reach about {workers / per_article:.1f} articles/s")

    sentences = sum(claims_per_page.get(site.page_of[result["article_id"]].id, 1) for _, result in timed)
    embed_seconds = sum(result["timings"].get("embed", 0.0) for _, result in timed)
    if embed_seconds:
        rate = sentences / embed_seconds
        print(f"embedding in the workers: {rate:.0f} sentences/s per worker; ceiling {ceiling:.0f}/s: "
              f"{ceiling / rate:.2f}x slower than the ceiling")

    # Alert stream ids are the server's clock in ms; enqueue and start times are RQ's (UTC).
    enqueued = {result["article_id"]: (job.enqueued_at, job.started_at) for job, result in timed}
    from_poll, from_start = [], []
    for entry_id, alert in store.alerts(count=total + 100):
        times = enqueued.get(alert.article.get("id", ""))
        if times is None or times[0] is None or times[1] is None:
            continue
        raised = datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)
        from_poll.append((raised - times[0].replace(tzinfo=UTC)).total_seconds())
        from_start.append((raised - times[1].replace(tzinfo=UTC)).total_seconds())
    for label, values in (("poll -> alert (includes the wait in the queue: the whole feed is queued at once)",
                           from_poll), ("job start -> alert", from_start)):
        print(f"latency {label}: p50 {percentile(values, 0.5):.2f}s, p95 {percentile(values, 0.95):.2f}s "
              f"({len(values)} alerts)")
    for pid, (command, values) in memory.items():
        print(f"memory pid {pid} ({command}): peak RSS {values.get('VmHWM', 0) / 1024:.0f} MiB, "
              f"at the end {values.get('VmRSS', 0) / 1024:.0f} MiB")
    store.client.close()
    server.stop()


# --- story assignment at scale ------------------------------------------------------------------

def synthetic_stories(count: int, probes: list[AnalysedArticle], now: datetime) -> list[Story]:
    """Random stories, one in eight near a real article, so that candidates reach full scoring."""
    rng = np.random.default_rng(7)
    vocabulary = [f"name{i}" for i in range(5000)]
    stories = []
    for i in range(count):
        centroid = rng.normal(size=384).astype(np.float32)
        if i % 8 == 0 and probes:
            centroid = probes[i // 8 % len(probes)].vector * 4 + centroid / np.sqrt(384)
        stories.append(Story(
            id=f"s{i}", title=f"story {i}", watched=False, centroid=centroid / np.linalg.norm(centroid),
            created_at=(now - timedelta(hours=float(rng.uniform(0, 48)))).isoformat(),
            updated_at=(now - timedelta(hours=float(rng.uniform(0, 6)))).isoformat(),
            article_ids=[f"a{i}"], sources=["bench"],
            entities={str(name): 1 for name in rng.choice(vocabulary, 12)},
            terms={str(term): 1 for term in rng.choice(vocabulary, 12)}, weight=1.0,
            # A full story's bag of telling words (bounded at StorySettings.max_words).
            words={str(word): 1 for word in rng.choice(vocabulary, 400)}))
    return stories


def assignment_cost(count: int, probes: list[AnalysedArticle], data_dir: Path) -> None:
    now = datetime.now(UTC)
    stories = synthetic_stories(count, probes, now)
    tick = time.perf_counter()
    index = StoryIndex(stories)
    built = time.perf_counter() - tick
    tick = time.perf_counter()
    for probe in probes:
        index.assign(probe, now)
    assign_ms = (time.perf_counter() - tick) * 1000 / len(probes)

    server = EmbeddedServer(data_dir / "valkey-stories")
    server.start()
    try:
        store = Store(Endpoint(url=server.url).client(), "bench-stories")
        store.client.hset(store.key("stories"), mapping={s.id: json.dumps(s.to_dict()) for s in stories})
        # A change log that reaches back before the worker's first read, as in a running deployment.
        store.save_watched(stories[0], "first change")
        cache = StoryCache()
        tick = time.perf_counter()
        cache.index(store)
        reload_s = time.perf_counter() - tick
        store.save_watched(stories[1], "changed by another worker")
        tick = time.perf_counter()
        cache.index(store)
        refresh_s = time.perf_counter() - tick
        store.client.close()
    finally:
        server.stop()
    print(f"story assignment with {count} active stories: assign {assign_ms:.2f} ms/article "
          f"({len(probes)} real articles); building the index {built * 1000:.0f} ms; "
          f"loading it from Redis and building it (once per worker) {reload_s * 1000:.0f} ms; "
          f"bringing it up to date after another worker changed a story (each time a worker takes the "
          f"integration lock) {refresh_s * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=362, help="articles to stream (the 181 pages repeated)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stories", type=int, default=10_000, help="active stories for the assignment cost")
    args = parser.parse_args()
    pages = load_pages()
    claims_per_page, analysed, ceiling = in_process(pages)
    with tempfile.TemporaryDirectory(prefix="sw-bench-", dir="/tmp") as tmp:
        run_fleet(pages, args.pages, args.workers, claims_per_page, ceiling, Path(tmp))
        assignment_cost(args.stories, analysed, Path(tmp))


if __name__ == "__main__":
    main()
