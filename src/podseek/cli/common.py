"""The ``podseek`` command line: one Typer app, each command a thin call into a stage.

Commands live in one module per stage (``catalog``, ``search``, ``queries``); this module
holds the app, the shared options and the one place where a user's mistake becomes one line
and exit 1.
"""

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from podseek.catalog.store import CatalogStore
from podseek.cli import quiet
from podseek.config import Settings, get_settings
from podseek.errors import PodseekError

app = typer.Typer(
    help="Natural-language search for podcast episodes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
ingest_app = typer.Typer(help="Add episodes from a source to the catalog.", no_args_is_help=True)
catalog_app = typer.Typer(help="Look at the episode catalog.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(catalog_app, name="catalog")

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
# --ray ADDRESS: run the model work on a Ray cluster's actors (podseek.scale.ray_jobs)
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run the model on a Ray cluster's actors: local (start one on this machine), "
        "auto (the one `ray start` runs here), HOST:PORT or ray://HOST:PORT. Needs "
        "pip install 'podseek[ray]'.",
    ),
]
ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Also remove the records the source no longer has.")
]
SourceOption = Annotated[
    str | None, typer.Option("--source", help="Name to file the records under.")
]


def user_errors(command: F) -> F:
    """Turn a :class:`PodseekError` into one line on stderr and exit code 1, and Ctrl-C into
    a line that says nothing was half-written (every write is one transaction or a rename)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PodseekError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except ValidationError as error:
            if error.title != Settings.__name__:
                raise
            typer.echo(f"error: {settings_problem(error)}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: what was being written was left as it was", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def settings_problem(error: ValidationError) -> str:
    """One line for a setting with a bad value: which variable, and what is wrong with it."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "?"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"setting PODSEEK_{name.upper()}: {message}{more}"


@app.callback()
@user_errors
def main_options(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Workspace folder (default: $PODSEEK_HOME or ./podseek-data)."),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Also show the libraries' own progress bars, log lines and warnings "
            "(transformers, sentence-transformers, Hugging Face hub and datasets).",
        ),
    ] = False,
) -> None:
    """Natural-language search for podcast episodes."""
    quiet.apply(verbose)
    if home is not None:
        get_settings.cache_clear()
        get_settings().home = home.expanduser()


def catalog_store(settings: Settings | None = None) -> CatalogStore:
    """The workspace's catalog (not opened yet: use it in a ``with``), from ``settings`` or
    the current ones, so every command finds it where ``--home`` put it."""
    return CatalogStore((settings or get_settings()).catalog_path)


def print_json(data: Any) -> None:
    """Print ``data`` as the ``--json`` output: indented, non-ASCII text as it is (catalogs
    are multilingual), dates and paths as strings."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command("settings")
@user_errors
def show_settings(as_json: JsonOption = False) -> None:
    """List podseek's settings, their current values and what they do."""
    settings = get_settings()
    rows = [
        {
            "name": name,
            "env": f"PODSEEK_{name.upper()}",
            "value": getattr(settings, name),
            "help": info.description,
        }
        for name, info in Settings.model_fields.items()
    ]
    from podseek.models.device import settings_device

    try:
        device = settings_device(settings).describe()
    except PodseekError as error:
        device = f"unavailable ({error})"
    if as_json:
        print_json({"settings": rows, "device": device})
        return
    for row in rows:
        typer.echo(f"{row['env']}={row['value']}\n    {row['help']}")
    typer.echo(f"\nthe device setting resolves to {device} on this machine")


def main() -> None:
    """Console entry point."""
    app(prog_name="podseek")
