"""The docs stay true: the settings page matches the settings model, every relative link in
README.md and docs/*.md resolves, and the README stays a short front door."""

import re
from pathlib import Path

import pytest

from podseek.settings_doc import REGENERATE, settings_markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 12_000

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`+[^`]*`+")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (where '#' starts a comment, not a heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'.

    Example:
        >>> github_slug("The quick pipeline (`make demo`), 2026-11-29")
        'the-quick-pipeline-make-demo-2026-11-29'
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """The link targets of a Markdown file that are not URLs, outside code."""
    targets = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for match in _LINK.finditer(_CODE_SPAN.sub("", line)):
            target = match.group(1)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                targets.append(target)
    return targets


def test_the_settings_page_is_generated_from_the_settings_model() -> None:
    page = ROOT / "docs" / "settings.md"
    assert page.is_file(), f"docs/settings.md is missing: run `{REGENERATE}`"
    assert page.read_text(encoding="utf-8") == settings_markdown(), (
        f"docs/settings.md is out of date with podseek.config.Settings: run `{REGENERATE}`"
    )


def test_the_settings_page_lists_every_setting_with_its_description() -> None:
    from podseek.config import Settings

    page = settings_markdown()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description= to document it"
        assert f"| `PODSEEK_{name.upper()}` |" in page


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {linked.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_the_link_checker_finds_a_broken_link_and_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# Title\n\n## Two words\n\n```bash\n# not a heading\n```\n\n"
        "[ok](#two-words) [file](b.md) [bad](#not-a-heading) `[code](nowhere.md)`\n"
        "[url](https://example.org/x.md)\n",
        encoding="utf-8",
    )
    assert anchors(tmp_path / "a.md") == {"title", "two-words"}
    assert relative_links(tmp_path / "a.md") == ["#two-words", "b.md", "#not-a-heading"]


def test_the_readme_is_a_short_front_door_that_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    size = len(text.encode("utf-8"))
    assert size <= README_MAX_BYTES, (
        f"README.md is {size:,} bytes: keep it under {README_MAX_BYTES:,} and move details to docs/"
    )
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first_block[0].startswith("make demo ") and first_block[1].startswith("make test ")
    headings = [line for line in _prose_lines(text) if line.startswith("## ")]
    assert headings[0] == "## Two commands"
