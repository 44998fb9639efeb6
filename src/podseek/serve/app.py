"""The HTTP API and the search page: ``create_app()`` builds one worker's FastAPI app.

Routes (OpenAPI at ``/docs``):

- ``GET /api/search`` q, k, mode, type (episode or show), sort (relevance or date), lang,
  show, category, after, before, min_duration, max_duration, session: every parameter
  validated; a bad one is a 422 whose ``detail`` is one sentence a person can read.
- ``GET /api/episodes/{id}/similar`` (more like this, with the same filters and same_show),
  ``GET /api/suggest?q=prefix`` (titles and popular past searches), ``POST /api/clicks``
  (a played or opened result, for the search log ``PODSEEK_SEARCH_LOG``).
- ``GET /api/episodes/{id}``; ``POST /api/episodes`` (one episode or a list: upserted into the
  catalog, encoded and indexed before the answer) and ``DELETE /api/episodes/{id}``: the write
  routes need ``Authorization: Bearer <PODSEEK_API_KEY>`` (compared in constant time) and are
  off (403) when no key is set.
- ``GET /api/facets`` (languages for the page's filter), ``GET /healthz`` (the process is up),
  ``GET /readyz`` (the index is loaded), ``GET /metrics`` (Prometheus text).
- ``GET /`` the search page (``static/index.html``: no build step, nothing from outside).

Every error answer is JSON ``{"detail": "..."}`` in one line, its status by whose the
error is (:mod:`podseek.errors`): a caller's mistake is a 4xx (422 for a bad parameter or
body, 404, 409), the server's own failure a 5xx (503 while the index is not loaded or was
removed, 500 otherwise, with no traceback in the body: the server's log has it).
"""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podseek.catalog.cleaning import parse_filter_date
from podseek.catalog.episode import Episode
from podseek.catalog.transcripts import Segment
from podseek.config import Settings, get_settings
from podseek.errors import NotFound, PodseekError
from podseek.index.base import SearchFilters
from podseek.search.aids import SearchRequest
from podseek.search.engine import ResultType, SameShow, SearchMode, SearchResults, Sort
from podseek.search.shows import ShowResults
from podseek.search.suggest import Suggestion
from podseek.serve.metrics import Metrics
from podseek.serve.search_log import MAX_SESSION_CHARS, SearchLog
from podseek.serve.service import API_SOURCE, SearchService

log = logging.getLogger("podseek.serve")
STATIC = Path(__file__).resolve().parent / "static"
MAX_UPSERT = 1000  # episodes in one POST
MAX_PREFIX_CHARS = 100  # a suggestion prefix: what a listener types before choosing
SESSION_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_SESSION_CHARS}}}$"


class ErrorAnswer(BaseModel):
    """Every error answer: one sentence a person can read."""

    detail: str


class Suggestions(BaseModel):
    query: str
    suggestions: list[Suggestion]


class Click(BaseModel):
    """A result a listener played or opened, reported by the page for the search log."""

    query: Annotated[str, Field(min_length=1, max_length=500)]
    episode_id: Annotated[str, Field(min_length=1, max_length=512)]
    session_id: Annotated[str | None, Field(pattern=SESSION_PATTERN)] = None


class Transcript(BaseModel):
    """What is said in an episode, in time order (seconds from its start)."""

    episode_id: str
    segments: list[Segment]


class UpsertAnswer(BaseModel):
    added: int
    updated: int
    unchanged: int
    ids: list[str]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's error answers (all ``{"detail": "..."}``)."""
    meaning = {
        401: "No valid API key.",
        403: "Write routes are off (no API key is set).",
        404: "No such episode.",
        409: "The episode belongs to another source.",
        422: "A parameter or the body is not valid.",
        500: "The server failed (its log has the details).",
        503: "The index is not loaded, or was removed; retry after `podseek index`.",
        504: "The search took too long.",
    }
    return {code: {"model": ErrorAnswer, "description": meaning[code]} for code in codes}


def _episode_body() -> dict[str, Any]:
    """The documented request body of ``POST /api/episodes``: one episode or a list. The
    route reads plain JSON and validates each record itself, to say which one is wrong."""
    schema = Episode.model_json_schema(ref_template="#/components/schemas/{model}")
    schema["properties"].pop("source", None)  # fixed to the API's own source
    schema["required"] = [name for name in schema.get("required", []) if name != "source"]
    schema.pop("title", None)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            schema,
                            {
                                "type": "array",
                                "items": schema,
                                "minItems": 1,
                                "maxItems": MAX_UPSERT,
                            },
                        ]
                    }
                }
            },
        }
    }


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The documented JSON request body of a route that reads and validates it itself."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def _readable(errors: list[dict[str, Any]]) -> str:
    """FastAPI's validation errors as one sentence: "k: Input should be less than or equal
    to 100; mode: Input should be 'semantic', 'keyword' or 'hybrid'"."""
    parts = []
    for error in errors:
        location = [str(p) for p in error.get("loc", ())]
        if location and location[0] in ("query", "body", "path", "header"):
            location = location[1:]  # where it was sent; a field may be named "query" too
        where = ".".join(location) or "request"
        parts.append(f"{where}: {error.get('msg', 'is not valid')}")
    return "; ".join(parts)


def _date(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return parse_filter_date(value)
    except ValueError as error:
        raise HTTPException(422, f"{name}: {error}") from None


def search_filters(
    lang: Annotated[
        str | None, Query(pattern=r"^[A-Za-z]{2,3}$", description="ISO 639-1 code.")
    ] = None,
    show: Annotated[str | None, Query(max_length=500, description="A show id.")] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD")] = None,
    before: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD")] = None,
    min_duration: Annotated[int | None, Query(ge=0, le=10**7, description="Seconds.")] = None,
    max_duration: Annotated[int | None, Query(ge=0, le=10**7, description="Seconds.")] = None,
) -> SearchFilters:
    """The filters a search and "more like this" share, checked as one."""
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise HTTPException(422, "min_duration: must not be more than max_duration")
    return SearchFilters(
        language=lang.lower() if lang else None,
        show_id=show or None,
        category=category or None,
        after=_date(after, "after"),
        before=_date(before, "before"),
        min_duration=min_duration,
        max_duration=max_duration,
    )


class RequestMetrics:
    """Counts every request and times it, by route template and status (pure ASGI: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request, a large share of a cached
    search's time; see docs/results.md)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)


def create_app(settings: Settings | None = None) -> FastAPI:
    """One worker's app: loads the index at start-up and serves until stopped."""
    settings = settings or get_settings()
    service = SearchService(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(service.load)
        except PodseekError as error:  # /readyz says so; searches answer 503
            log.error("index not loaded: %s", error)
        yield

    app = FastAPI(
        title="podseek",
        description="Natural-language search for podcast episodes.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics

    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _readable(list(error.errors()))}, status_code=422)

    @app.exception_handler(PodseekError)
    async def podseek_error(request: Request, error: PodseekError) -> JSONResponse:
        """An error of a known kind: the status its kind says, its own line as the detail."""
        if error.http_status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, error)
        return JSONResponse({"detail": str(error)}, status_code=error.http_status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        """A bug or a failure nobody foresaw: one line, and the traceback only in the log
        (Starlette logs it when this answer has gone)."""
        return JSONResponse(
            {"detail": f"internal error ({type(error).__name__}); the server's log has the rest"},
            status_code=500,
        )

    search_log = SearchLog(settings.search_log) if settings.search_log else None

    @app.get(
        "/api/search",
        response_model=SearchResults | ShowResults,
        response_class=JSONResponse,
        tags=["search"],
        responses=_errors(422, 500, 503, 504),
    )
    async def search(
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=settings.max_query_chars,
                description="What to look for, in the listener's words and language.",
            ),
        ],
        filters: Annotated[SearchFilters, Depends(search_filters)],
        k: Annotated[int, Query(ge=1, le=settings.max_k, description="Results wanted.")] = 10,
        mode: SearchMode = SearchMode.HYBRID,
        type: Annotated[
            ResultType, Query(description="Rank episodes, or shows (their text and episodes).")
        ] = ResultType.EPISODE,
        sort: Annotated[
            Sort, Query(description="relevance, or date: the top results, newest first.")
        ] = Sort.RELEVANCE,
        segments: Annotated[
            bool,
            Query(
                description="Search the transcripts' windows too: a matching moment lifts its "
                "episode, and each result carries its moments (where there is a segment index)."
            ),
        ] = True,
        session: Annotated[
            str | None,
            Query(pattern=SESSION_PATTERN, description="The page's random per-tab id (log)."),
        ] = None,
    ) -> Response:
        """Find episodes (or shows) by what they are about. The answer's ``did_you_mean``
        offers a spelling the catalog knows when the query's words are unknown and match
        little; the query itself is never rewritten."""
        query = q.strip()
        if not query:
            raise HTTPException(422, "q: must contain something other than spaces")
        if type is ResultType.SHOW and sort is Sort.DATE:
            raise HTTPException(422, "sort: date orders episodes; shows are ranked by relevance")
        loaded = service.current()  # Unavailable (503) while no index is loaded
        request = SearchRequest(query, k, SearchMode(mode), filters, Sort(sort), type, segments)
        answer = loaded.answers.get(request)  # a repeated search: no thread, no serialising
        if answer is None:
            answer = await _timed(run_in_threadpool(loaded.compute, request))
        if search_log is not None:
            found = json.loads(answer)["count"]
            await run_in_threadpool(search_log.search, session, query, type.value, found)
        return Response(answer, media_type="application/json")

    async def _timed(work: Awaitable[bytes]) -> bytes:
        try:
            return await asyncio.wait_for(work, settings.request_timeout_s)
        except TimeoutError as error:
            raise HTTPException(
                504, f"the search took longer than {settings.request_timeout_s:g} s"
            ) from error

    @app.get(
        "/api/episodes/{episode_id:path}/similar",
        response_model=SearchResults,
        response_class=JSONResponse,
        tags=["search"],
        responses=_errors(404, 422, 500, 503, 504),  # 404: an id no path can hold (a newline)
    )
    async def similar(
        episode_id: str,
        filters: Annotated[SearchFilters, Depends(search_filters)],
        k: Annotated[int, Query(ge=1, le=settings.max_k, description="Results wanted.")] = 10,
        same_show: Annotated[
            SameShow, Query(description="any; exclude (other shows only); only (its show).")
        ] = SameShow.ANY,
        sort: Sort = Sort.RELEVANCE,
    ) -> Response:
        """More like this: the episodes nearest to one, by its stored vector, with filters."""
        loaded = service.current()
        try:
            answer = await _timed(
                run_in_threadpool(loaded.similar, episode_id, k, filters, same_show, sort)
            )
        except NotFound as error:  # an id the caller gave: their mistake, not a missing page
            raise HTTPException(422, f"episode_id: {error}") from None
        return Response(answer, media_type="application/json")

    @app.get(
        "/api/episodes/{episode_id:path}/transcript",
        tags=["episodes"],
        response_model=Transcript,
        responses=_errors(404, 422, 500),
    )
    def get_transcript(episode_id: str) -> Transcript:
        """An episode's transcript: its timed segments, with speakers where the file names
        them. 404 when there is no such episode, or it has no transcript."""
        return Transcript(episode_id=episode_id, segments=service.transcript(episode_id))

    @app.get(
        "/api/suggest",
        response_model=Suggestions,
        tags=["search"],
        responses=_errors(422, 500, 503),
    )
    async def suggest(  # in-memory and sub-millisecond: no thread hop
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=MAX_PREFIX_CHARS,
                description="What the listener has typed so far.",
            ),
        ],
        limit: Annotated[int, Query(ge=1, le=20, description="Suggestions wanted.")] = 8,
    ) -> dict[str, Any]:
        """Show titles, episode titles and popular past searches that start with ``q`` (or
        have a word that does), for the search box as the listener types."""
        if not q.strip():
            raise HTTPException(422, "q: must contain something other than spaces")
        aids = service.current().aids
        return {"query": q, "suggestions": aids.suggester.suggest(q, limit)}

    @app.post(
        "/api/clicks",
        tags=["search"],
        status_code=204,
        responses=_errors(422, 500),
        openapi_extra=_json_body(Click),
    )
    async def click(request: Request) -> Response:
        """A result the listener played or opened; written to the search log when one is
        kept (``PODSEEK_SEARCH_LOG``), ignored otherwise."""
        try:  # read here, not by FastAPI: a body that is not JSON is a 422 too, not a 400
            body = Click.model_validate_json(await request.body())
        except ValidationError as error:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
            raise HTTPException(422, _readable(errors)) from None
        if search_log is not None:
            await run_in_threadpool(
                search_log.click, body.session_id, body.query.strip(), body.episode_id
            )
        return Response(status_code=204)

    @app.get(
        "/api/episodes/{episode_id:path}",
        tags=["episodes"],
        response_model=Episode,
        responses=_errors(404, 422, 500),
    )
    def get_episode(episode_id: str) -> dict[str, Any]:
        """One episode of the catalog."""
        return service.episode(episode_id).model_dump(mode="json")

    def require_key(
        authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    ) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        if not key:
            raise HTTPException(403, "write routes are off: set PODSEEK_API_KEY to enable them")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), key.encode()
        ):
            raise HTTPException(
                401,
                "a valid 'Authorization: Bearer <key>' header is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.post(
        "/api/episodes",
        tags=["episodes"],
        dependencies=[Depends(require_key)],
        response_model=UpsertAnswer,
        responses=_errors(401, 403, 409, 422, 500, 503),
        openapi_extra=_episode_body(),
    )
    async def upsert_episodes(request: Request) -> dict[str, Any]:
        """Add or update episodes (one object or a list); they are searchable on return."""
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
            raise HTTPException(422, "body: not a JSON document") from None
        if not isinstance(body, list | dict):
            raise HTTPException(422, "body: give one episode (an object) or a list of them")
        records = body if isinstance(body, list) else [body]
        if not records:
            raise HTTPException(422, "body: give at least one episode")
        if len(records) > MAX_UPSERT:
            raise HTTPException(422, f"body: at most {MAX_UPSERT} episodes per request")
        episodes = []
        for number, record in enumerate(records):
            where = f"episode {number}" if isinstance(body, list) else "episode"
            if not isinstance(record, dict):
                raise HTTPException(422, f"{where}: must be a JSON object")
            if record.get("source", API_SOURCE) != API_SOURCE:
                raise HTTPException(
                    422, f"{where}: source: episodes written here are filed under {API_SOURCE!r}"
                )
            try:
                episodes.append(Episode.model_validate({**record, "source": API_SOURCE}))
            except ValidationError as error:
                raise HTTPException(422, f"{where}: {_readable(list(error.errors()))}") from None
        ids = [e.id for e in episodes]
        if len(set(ids)) != len(ids):
            raise HTTPException(422, "body: the same id twice in one request")
        service.current()  # Unavailable (503) while no index is loaded
        counts = await run_in_threadpool(service.upsert, episodes)
        return {**counts, "ids": ids}

    @app.delete(
        "/api/episodes/{episode_id:path}",
        tags=["episodes"],
        status_code=204,
        dependencies=[Depends(require_key)],
        responses=_errors(401, 403, 404, 422, 500, 503),
    )
    def delete_episode(episode_id: str) -> Response:
        """Remove an episode from the catalog and the index."""
        service.current()  # Unavailable (503) while no index is loaded
        service.delete(episode_id)
        return Response(status_code=204)

    @app.get("/api/facets", tags=["search"])
    def facets() -> dict[str, Any]:
        """The catalog's languages (for the page's filter), most episodes first."""
        languages = service.languages()
        return {
            "languages": [
                {"code": code, "episodes": n} for code, n in languages.items() if code != "unknown"
            ]
        }

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready."}})
    def readyz() -> JSONResponse:
        if not service.ready:
            return JSONResponse({"status": "index not loaded"}, status_code=503)
        manifest = service.searcher().index.manifest
        return JSONResponse(
            {"status": "ready", "model": manifest.model.name, "episodes": manifest.rows}
        )

    @app.get("/metrics", tags=["operations"])
    def prometheus() -> PlainTextResponse:
        if service.ready:
            metrics.index_episodes.set(service.searcher().index.manifest.rows)
        metrics.index_reloads.set(service.reloads)
        metrics.aids_builds.set(service.aids_builds)
        metrics.set_caches(service.cache_counts())
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    if (STATIC / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def page() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    return app
