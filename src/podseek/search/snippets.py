"""Snippets: the part of an episode's text that shows why it matched."""

import re

_WORD = re.compile(r"\w{3,}", re.UNICODE)


def make_snippet(text: str, episode_title: str, query: str, width: int = 200) -> str:
    """About ``width`` characters of ``text`` after the episode title, centred on the first
    query word found there (or the start of the description when none is)."""
    start = text.find(episode_title) + len(episode_title) if episode_title else 0
    if start < len(episode_title):  # title not found in the (capped) text
        start = 0
    body = text[start:].lstrip(". ") or text
    lowered = body.lower()
    positions = [
        found for word in _WORD.findall(query.lower()) if (found := lowered.find(word)) >= 0
    ]
    centre = min(positions) if positions else 0
    begin = max(0, centre - width // 3)
    if begin:
        space = body.find(" ", begin)
        begin = space + 1 if 0 <= space < centre else begin
    snippet = body[begin : begin + width]
    if begin + width < len(body):
        cut = snippet.rfind(" ")
        snippet = (snippet[:cut] if cut > width // 2 else snippet) + " …"
    return ("… " if begin else "") + snippet.strip()
