"""``podseek migrate``: move the workspace index between LanceDB and a Milvus server."""

from enum import StrEnum
from typing import Annotated, get_args

import typer

from podseek.cli.common import JsonOption, app, print_json, user_errors
from podseek.config import BackendKind, get_settings

# --to's choices: the backends' names, from their one list
Target = StrEnum("Target", {kind.upper(): kind for kind in get_args(BackendKind)})


@app.command("migrate")
@user_errors
def migrate_command(
    to: Annotated[
        Target, typer.Option("--to", help="The backend to move the index to: milvus or lancedb.")
    ],
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Rows read and written together.")
    ] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Copy the index to the other backend (no encoding) and switch to it when complete.

    Safe to interrupt: run it again to continue. The Milvus server is PODSEEK_MILVUS_URI (and
    PODSEEK_MILVUS_TOKEN); set PODSEEK_BACKEND to the new backend for later `podseek index`
    runs, or leave it unset (an index stays where it is)."""
    from podseek.index.backends import BackendOptions
    from podseek.index.base import AnnSettings
    from podseek.index.migrate import migrate_index

    settings = get_settings()
    target = BackendOptions.from_settings(settings).to(to.value)
    try:
        report = migrate_index(
            settings.index_dir, target, AnnSettings.from_settings(settings), batch=batch
        )
    except KeyboardInterrupt:
        typer.echo(
            "interrupted: the index stays where it was; run `podseek migrate` again to "
            "continue the copy",
            err=True,
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"index moved from {report.source} to {report.target}: {report.rows:,} episodes "
        f"({report.copied:,} copied, {report.unchanged:,} already there, "
        f"{report.removed:,} removed), {report.vector_index} vector search, "
        f"{report.seconds:,.1f} s; the copy in {report.source} was kept"
    )
