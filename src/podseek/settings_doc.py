"""docs/settings.md, written from the settings model so that the page cannot go stale.

Every field of :class:`podseek.config.Settings` becomes one row: its environment variable,
its type or choices, its default and its ``description=``. The page is committed, and
``tests/test_docs.py`` fails when it differs from what this module writes; regenerate it with::

    python -m podseek.settings_doc > docs/settings.md

Only the model's declarations are read, never the environment: the page is the same on
every machine.
"""

import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from podseek.config import Settings

REGENERATE = "python -m podseek.settings_doc > docs/settings.md"

_INTRO = f"""\
# Settings

<!-- Generated from podseek.config.Settings by `{REGENERATE}`; do not edit by hand. -->

Every setting can be given, highest priority first, as an environment variable
(`PODSEEK_<NAME>`), in a `.env` file or in a `podseek.toml` file in the working directory
(the key is the setting's name in lower case, such as `backend = "milvus"`).
`podseek settings` lists them with the values in effect; `podseek settings --json` the same
as JSON. A setting with a value it does not accept stops any command with one line that
names the variable.

| environment variable | type | default | what it does |
|---|---|---|---|
"""

_TYPE_NAMES: dict[Any, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true / false",
    Path: "path",
    SecretStr: "secret",
}

# The bounds pydantic keeps in a field's metadata (``Field(ge=...)`` and the like).
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def settings_markdown() -> str:
    """The whole of docs/settings.md: an introduction and one table row per setting.

    Example:
        >>> "| `PODSEEK_BACKEND` |" in settings_markdown()
        True
    """
    rows = [_row(name, field) for name, field in Settings.model_fields.items()]
    return _INTRO + "\n".join(rows) + "\n"


def _row(name: str, field: FieldInfo) -> str:
    cells = (
        f"`PODSEEK_{name.upper()}`",
        _type_text(field),
        _default_text(field.default),
        field.description or "",
    )
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _type_text(field: FieldInfo) -> str:
    """The type, or the choices of a ``Literal``, with the field's bounds and pattern."""
    annotation = field.annotation
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    if get_origin(annotation) is Literal:
        text = "one of " + ", ".join(f"`{choice}`" for choice in get_args(annotation))
    else:
        text = _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
    limits = [
        f"{symbol} {getattr(item, attribute)}"
        for item in field.metadata
        for attribute, symbol in _BOUNDS
        if getattr(item, attribute, None) is not None
    ]
    patterns = [item.pattern for item in field.metadata if getattr(item, "pattern", None)]
    limits += [f"matching `{pattern}`" for pattern in patterns]
    if limits:
        text += ", " + ", ".join(limits)
    return text + (", optional" if optional else "")


def _default_text(default: Any) -> str:
    if default is None:
        return "unset"
    if default is PydanticUndefined:
        return "required"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell and shows as written: pipes escaped,
    and ``<`` outside code spans escaped so that ``episodes_<hash>`` is not read as HTML."""
    pieces = " ".join(text.split()).replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(pieces))


if __name__ == "__main__":
    print(settings_markdown(), end="")
