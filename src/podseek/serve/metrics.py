"""Prometheus metrics of one server worker: requests, latency, index size, caches.

Each app gets its own registry (tests create several apps in one process). With several
workers each keeps its own counts, as Prometheus' client does outside multiprocess mode; a
scrape reads the worker that answers it.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Buckets around a search's expected latency (milliseconds to a few seconds).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The counters and histograms ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "podseek_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "podseek_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.index_episodes = Gauge(
            "podseek_index_episodes", "Episodes in the loaded index.", registry=self.registry
        )
        self.index_reloads = Gauge(
            "podseek_index_loads", "Index versions this worker has loaded.", registry=self.registry
        )
        self.aids_builds = Gauge(
            "podseek_catalog_aids_builds",
            "Times this worker built suggestions, the speller and shows from the catalog "
            "(once at start-up, then once per write that changed a record).",
            registry=self.registry,
        )
        self.cache_hits = Gauge(
            "podseek_query_cache_hits",
            "Queries whose vector came from the query vector cache.",
            registry=self.registry,
        )
        self.cache_misses = Gauge(
            "podseek_query_cache_misses",
            "Queries the encoder had to encode.",
            registry=self.registry,
        )
        self.answer_hits = Gauge(
            "podseek_answer_cache_hits",
            "Searches answered from the current index version's answer cache.",
            registry=self.registry,
        )
        self.answer_misses = Gauge(
            "podseek_answer_cache_misses",
            "Searches the current index version had to run.",
            registry=self.registry,
        )

    def set_caches(self, counts: dict[str, int]) -> None:
        """Copy the service's cache counters (read when scraped, not on every request)."""
        self.cache_hits.set(counts["query_hits"])
        self.cache_misses.set(counts["query_misses"])
        self.answer_hits.set(counts["answer_hits"])
        self.answer_misses.set(counts["answer_misses"])

    def render(self) -> bytes:
        return generate_latest(self.registry)
