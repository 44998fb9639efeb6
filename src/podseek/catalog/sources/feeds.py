"""RSS 2.0 and Atom feeds (files or URLs), and OPML lists of feeds, read with feedparser.

Each feed is its own source, named ``rss:<file stem or URL host and path>`` unless the user
names it, so re-ingesting a feed updates exactly its own episodes.
"""

import calendar
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import listparser

from podseek.catalog.build import RawEpisode, Skip
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
    return "rss:" + (_UNSAFE.sub("-", key).strip("-") or "feed")


class FeedSource:
    """The items of one RSS or Atom feed."""

    kind = "rss"

    def __init__(self, location: str, timeout: float = 10.0, name: str | None = None) -> None:
        self.location = location if is_url(location) else str(Path(location).resolve())
        self.name = name or default_source_name(location)
        self.feed = parse_feed(read_location(location, timeout), location)

    def total(self) -> int | None:
        return len(self.feed.entries)

    def records(self) -> Iterator[RawEpisode | Skip]:
        channel = self.feed.feed
        show_title = channel.get("title", "")
        show_description = _longest(channel.get("summary"), channel.get("subtitle"))
        show_id = channel.get("link") or self.location
        categories = [tag.get("term") or "" for tag in channel.get("tags", [])]
        show_image = (channel.get("image") or {}).get("href", "")
        for entry in self.feed.entries:
            content = [part.get("value", "") for part in entry.get("content", [])]
            audio = next(
                (e.get("href", "") for e in entry.get("enclosures", []) if e.get("href")), ""
            )
            yield RawEpisode(
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
            )


def parse_feed(data: bytes, location: str) -> Any:
    """A parsed feed; a document that is not a feed is a :class:`PodseekError`.

    feedparser reads broken XML leniently; we accept what it recovers when it found a channel
    or items, and refuse the file when it found neither.
    """
    feed = feedparser.parse(data)
    if not feed.entries and not feed.feed.get("title"):
        reason = getattr(feed, "bozo_exception", None) or "no channel or items found"
        raise PodseekError(f"{location}: not an RSS or Atom feed ({reason})")
    return feed


def _entry_date(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return entry.get("published") or None  # kept raw: build_episode counts it
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def _longest(*values: str | None) -> str:
    return max((v for v in values if v), key=len, default="")


def opml_feed_locations(location: str, timeout: float = 10.0) -> list[str]:
    """The feed URLs that an OPML file (or URL) lists, in order, without repeats."""
    data = read_location(location, timeout)
    result = listparser.parse(data.decode("utf-8", errors="replace"))
    if not result.version:
        reason = result.bozo_exception if result.bozo else "no <opml> root element"
        raise PodseekError(f"{location}: not an OPML file ({reason})")
    urls = list(dict.fromkeys(feed.url for feed in result.feeds if feed.url))
    if not urls:
        raise PodseekError(f"{location}: the OPML file lists no feeds")
    return urls
