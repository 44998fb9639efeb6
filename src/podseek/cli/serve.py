"""``podseek serve``: the HTTP API and the search page."""

import os
from typing import Annotated, Any

import typer

from podseek.cli.common import app, user_errors
from podseek.config import get_settings
from podseek.errors import PodseekError


@app.command("serve")
@user_errors
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the index).")
    ] = 1,
) -> None:
    """Serve search over HTTP: the API (docs at /docs) and the search page at /."""
    from podseek.extras import require

    require("serve", "fastapi", "uvicorn", "prometheus_client", what="podseek serve")
    import uvicorn

    settings = get_settings()
    if not (settings.index_dir / "manifest.json").is_file():
        raise PodseekError(f"no index at {settings.index_dir}; run `podseek index` first")
    # workers are new processes: they read the workspace from the environment
    os.environ["PODSEEK_HOME"] = str(settings.home)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    ready = f"podseek: searching {settings.home} at http://{shown}:{port}/ (Ctrl-C stops)"
    if workers > 1:  # each worker loads in its own process; uvicorn starts them by name
        typer.echo(ready)
        uvicorn.run(
            "podseek.serve.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
        return
    from podseek.serve.app import create_app

    class Announcing(uvicorn.Server):
        """Says where to search once it listens: after the index and its encoders load."""

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                typer.echo(ready)

    typer.echo(f"podseek: loading {settings.home} ...")
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    Announcing(config).run()
