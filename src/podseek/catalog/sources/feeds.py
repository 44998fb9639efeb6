"""RSS 2.0 and Atom feeds (files or URLs), and OPML lists of feeds, read with feedparser.

Each feed is its own source, named ``rss:<file stem or URL host and path>`` unless the user
names it, so re-ingesting a feed updates exactly its own episodes.
"""

import calendar
import hashlib
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import listparser

from podseek.catalog.build import RawEpisode, Skip
from podseek.catalog.transcripts import TranscriptError, parse_transcript, transcript_format
from podseek.errors import PodseekError

USER_AGENT = "podseek/0.1 (+podcast catalog ingest)"
_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def read_location(location: str, timeout: float) -> bytes:
    """The bytes of a local file or an http(s) URL, or one clear :class:`PodseekError`."""
    if is_url(location):
        request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise PodseekError(f"{location}: could not fetch: HTTP {error.code}") from error
        except urllib.error.URLError as error:
            raise PodseekError(f"{location}: could not fetch: {error.reason}") from error
        except (TimeoutError, OSError) as error:
            raise PodseekError(f"{location}: could not fetch: {error}") from error
    path = Path(location)
    if not path.exists():
        raise PodseekError(f"{location}: no such file")
    if not path.is_file():
        raise PodseekError(f"{location}: not a file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise PodseekError(f"{location}: cannot read: {error}") from error


def default_source_name(location: str) -> str:
    """``rss:`` plus the file's stem or the URL's host and path, kept to safe characters."""
    if is_url(location):
        parts = urlsplit(location)
        key = (parts.netloc + parts.path).rstrip("/")
    else:
        key = Path(location).stem
    key = _UNSAFE.sub("-", key).strip("-") or "feed"
    if len(key) > 120:  # a source name prefixes every id, which is capped
        key = key[:100] + "-" + hashlib.sha1(key.encode()).hexdigest()[:12]
    return "rss:" + key


class FeedSource:
    """The items of one RSS or Atom feed."""

    kind = "rss"

    def __init__(
        self,
        location: str,
        timeout: float = 10.0,
        name: str | None = None,
        transcripts: bool = True,
    ) -> None:
        self.location = location if is_url(location) else str(Path(location).resolve())
        self.name = name or default_source_name(location)
        self.feed = parse_feed(read_location(location, timeout), location)
        self.timeout = timeout
        self.transcripts = transcripts
        self._unreachable: set[str] = set()  # hosts a transcript fetch failed to reach

    def total(self) -> int | None:
        return len(self.feed.entries)

    def records(self) -> Iterator[RawEpisode | Skip]:
        channel = self.feed.feed
        show_title = channel.get("title", "")
        show_description = _longest(channel.get("summary"), channel.get("subtitle"))
        show_id = channel.get("link") or self.location
        categories = [tag.get("term") or "" for tag in channel.get("tags", [])]
        for entry in self.feed.entries:
            try:
                item = self._item(entry, show_id, show_title, show_description, categories)
            except Exception as error:  # one odd item must not stop the feed
                yield Skip(f"malformed item ({type(error).__name__})")
                continue
            yield item

    def _item(
        self,
        entry: Any,
        show_id: str,
        show_title: str,
        show_description: str,
        categories: list[str],
    ) -> RawEpisode:
        channel = self.feed.feed
        show_image = (channel.get("image") or {}).get("href", "")
        content = [part.get("value", "") for part in entry.get("content", [])]
        audio = next((e.get("href", "") for e in entry.get("enclosures", []) if e.get("href")), "")
        return RawEpisode(
            native_id=entry.get("id"),
            show_id=show_id,
            show_title=show_title,
            show_description=show_description,
            episode_title=entry.get("title"),
            episode_description=_longest(entry.get("summary"), *content),
            language=channel.get("language"),
            categories=categories,
            published_at=_entry_date(entry),
            duration=entry.get("itunes_duration"),
            audio_url=audio,
            episode_url=entry.get("link"),
            image_url=(entry.get("image") or {}).get("href") or show_image,
            episode_required=True,
            **self._transcript(entry),
        )

    def _transcript(self, entry: Any) -> dict[str, Any]:
        """The RawEpisode fields for the transcript an item links, fetched and read: its
        segments, or why it was left out. A feed's URLs are resolved against the feed, so a
        local copy of a feed may link local files; a feed fetched over http(s) may link only
        http(s) URLs. After one fetch fails to reach a host, its other transcripts are not
        tried (no network: one timeout, not one per item)."""
        linked = entry.get("podcast_transcript") or {}
        url = linked.get("url") if isinstance(linked, dict) else None
        if not self.transcripts or not url:
            return {}
        form = transcript_format(linked.get("type") or "") or transcript_format(url)
        if form is None:
            return {"transcript_problem": "not SRT, WebVTT, JSON or HTML"}
        location = urljoin(self.location if is_url(self.location) else "", url)
        if not is_url(location):
            if is_url(self.location):
                return {"transcript_problem": "a remote feed linked a local file"}
            local = Path(urlsplit(url).path if url.startswith("file:") else url)
            location = str(Path(self.location).parent / local)
        host = urlsplit(location).netloc
        if host in self._unreachable:
            return {"transcript_problem": "could not fetch it"}
        try:
            data = read_location(location, self.timeout)
        except PodseekError as error:
            if not host:
                return {"transcript_problem": "no such local file"}
            if ": HTTP " not in str(error):  # the host did not answer, rather than refused
                self._unreachable.add(host)
            return {"transcript_problem": "could not fetch it"}
        try:
            return {"transcript": (form, parse_transcript(data, form))}
        except TranscriptError as error:
            return {"transcript_problem": str(error)}


def parse_feed(data: bytes, location: str) -> Any:
    """A parsed feed; a document that is not a feed is a :class:`PodseekError`.

    feedparser reads broken XML leniently; we accept what it recovers when it found a channel
    or items, and refuse the file when it found neither.
    """
    try:
        feed = feedparser.parse(data)
    except Exception as error:  # feedparser is lenient; anything it raises is the file's
        raise PodseekError(f"{location}: not an RSS or Atom feed ({error})") from error
    if not feed.entries and not feed.feed.get("title"):
        reason = getattr(feed, "bozo_exception", None) or "no channel or items found"
        raise PodseekError(f"{location}: not an RSS or Atom feed ({reason})")
    return feed


def _entry_date(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return entry.get("published") or None  # kept raw: build_episode counts it
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return entry.get("published") or str(parsed)  # build_episode counts it


def _longest(*values: str | None) -> str:
    return max((v for v in values if v), key=len, default="")


@dataclass
class OpmlFeeds:
    """The feeds an OPML list names that podseek will read, and the entries it refused,
    counted by reason."""

    locations: list[str]
    refused: Counter[str] = field(default_factory=Counter)


def opml_feed_locations(location: str, timeout: float = 10.0) -> OpmlFeeds:
    """The feeds that an OPML file (or URL) lists, in order, without repeats.

    A local OPML file may name local feed files (a relative path is read from the OPML's
    folder) and http(s) URLs; an OPML fetched over http(s) may name only http(s) URLs, so a
    list from elsewhere can never make podseek read this machine's files. ``file://`` and
    every other scheme are refused, and counted.
    """
    data = read_location(location, timeout)
    result = listparser.parse(data.decode("utf-8", errors="replace"))
    if not result.version:
        reason = result.bozo_exception if result.bozo else "no <opml> root element"
        raise PodseekError(f"{location}: not an OPML file ({reason})")
    remote = is_url(location)
    base = None if remote else Path(location).resolve().parent
    feeds = OpmlFeeds([])
    for feed in result.feeds:
        url = (feed.url or "").strip()
        if not url:
            continue
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:  # "http://[" and the like
            feeds.refused["refused: not a valid URL"] += 1
            continue
        if scheme in ("http", "https"):
            feeds.locations.append(url)
        elif len(scheme) > 1:  # "C:" is a Windows drive, not a scheme
            feeds.refused[f"refused: {scheme}: URL (only http(s) URLs and local files)"] += 1
        elif remote:
            feeds.refused["refused: a local path in a remote OPML (only http(s) URLs)"] += 1
        else:
            path = Path(url).expanduser()
            feeds.locations.append(str(path if path.is_absolute() else base / path))
    feeds.locations = list(dict.fromkeys(feeds.locations))
    if not feeds.locations:
        refused = f" ({sum(feeds.refused.values())} refused)" if feeds.refused else ""
        raise PodseekError(f"{location}: the OPML file lists no feeds podseek can read{refused}")
    return feeds
