"""`disinfodb serve`: the web pages and the JSON API."""

from __future__ import annotations

import copy
import os
import signal
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from disinfodb.cli.support import DbOption, ModelOption, fail, opened, out
from disinfodb.export import DEFAULT_PUBLISHER

if TYPE_CHECKING:
    from disinfodb.server.service import Settings

WORKER_PING_TIMEOUT_S = 30  # uvicorn's default, 5 s, is short for a worker loading its models on 2 busy cores


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    model: ModelOption = None,
    private: Annotated[bool, typer.Option("--private", envvar="DISINFODB_PRIVATE",
                                          help="Reads need a signed-in user or token too.")] = False,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", envvar="DISINFODB_MAX_UPLOAD_MB", min=1,
                                               help="Largest request body (uploads).")] = 64,
    match_per_minute: Annotated[int, typer.Option("--match-per-minute", envvar="DISINFODB_MATCH_PER_MINUTE",
                                                  min=0, help="Match requests per client a minute (0: no limit).")
                                ] = 60,
    workers: Annotated[int, typer.Option(
        "--workers", envvar="DISINFODB_WORKERS", min=1,
        help="Server processes answering on one socket against the database, each with its own connections,"
             " models, index and match workers; rate limits are shared through the database.")] = 1,
    match_workers: Annotated[int, typer.Option(
        "--match-workers", envvar="DISINFODB_MATCH_WORKERS", min=0,
        help="Processes that answer match requests, each with its own models and index, so searches never"
             " wait behind a match (0: match in the server's process). Per server worker.")] = 1,
    match_queue: Annotated[int, typer.Option(
        "--match-queue", envvar="DISINFODB_MATCH_QUEUE", min=1,
        help="Match requests in the workers at once, waiting included; more are answered 503 with"
             " Retry-After.")] = 16,
    import_per_minute: Annotated[int, typer.Option("--import-per-minute", envvar="DISINFODB_IMPORT_PER_MINUTE",
                                                   min=0, help="Imports per client a minute (0: no limit).")] = 10,
    search_seconds_per_minute: Annotated[float, typer.Option(
        "--search-seconds-per-minute", envvar="DISINFODB_SEARCH_SECONDS_PER_MINUTE", min=0,
        help="Server time an anonymous client's searches may take a minute, per address (0: no limit).")] = 3.0,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", envvar="DISINFODB_SECURE_COOKIES",
                                                 help="Mark cookies Secure (serve behind HTTPS).")] = False,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", envvar="DISINFODB_PUBLIC_URL",
        help="The site's address as its users reach it (absolute links in feeds and reviews);"
             " default http://HOST:PORT. The request's Host header is never used.")] = None,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", envvar="DISINFODB_FORWARDED_ALLOW_IPS",
        help="Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto to trust"
             " (client addresses for rate limits). Default: none, trust no proxy header.")] = None,
    publisher_name: Annotated[str, typer.Option(
        "--publisher-name", envvar="DISINFODB_PUBLISHER_NAME",
        help="Who reviews the cases, as the case pages' ClaimReview JSON-LD, the ClaimReview export and"
             " the Fact Check Tools API (/v1alpha1/claims:search) name it; its site is the public URL.")
    ] = DEFAULT_PUBLISHER.name,
    rating_label: Annotated[str, typer.Option(
        "--rating-label", envvar="DISINFODB_RATING_LABEL",
        help="The textual rating those ClaimReviews give every case.")] = DEFAULT_PUBLISHER.rating,
    review_language: Annotated[str, typer.Option(
        "--review-language", envvar="DISINFODB_REVIEW_LANGUAGE",
        help="The language the debunks are written in (ISO 639-1), as those ClaimReviews say it.")
    ] = DEFAULT_PUBLISHER.language,
    db: DbOption = None,
) -> None:
    """Serve the web pages and the JSON API (OpenAPI docs at /docs)."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from disinfodb.review import clean_base_url  # noqa: PLC0415
    from disinfodb.server.app import create_app  # noqa: PLC0415
    from disinfodb.server.service import MB, Settings  # noqa: PLC0415

    try:
        base = clean_base_url(public_url or f"http://{host}:{port}")
    except ValueError as error:
        fail(f"--public-url: {error}")
    settings = Settings(private=private, max_body_bytes=max_upload_mb * MB, match_per_minute=match_per_minute,
                        match_workers=match_workers, match_queue=match_queue, workers=workers,
                        import_per_minute=import_per_minute, search_seconds_per_minute=search_seconds_per_minute,
                        secure_cookies=secure_cookies, public_url=base, publisher_name=publisher_name,
                        rating_label=rating_label, review_language=review_language)
    proxies = (forwarded_allow_ips or "").strip()
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info", "proxy_headers": bool(proxies),
                               "forwarded_allow_ips": proxies or None,
                               "log_config": _log_config(uvicorn.config.LOGGING_CONFIG)}
    if workers > 1:
        _serve_workers(db, model, settings, options)
        return
    with opened(db) as store:
        web_app = create_app(store, model, settings)
        web_app.state.service.warm_up()  # embeds what is not cached yet, without blocking pages
        out.print(f"Serving {store.display_location} ({store.count():,} cases) at http://{host}:{port}/"
                  " (API docs at /docs)")
        # uvicorn stops on SIGTERM, then raises it again for the handler it found: the default
        # one would end the process before `finally` stops the match workers and the builds.
        signal.signal(signal.SIGTERM, _exit_through_finally)
        try:
            uvicorn.run(web_app, **options)
        finally:
            web_app.state.service.close()


def _serve_workers(db: str | None, model: str | None, settings: Settings, options: dict[str, Any]) -> None:
    """`serve --workers N`: uvicorn's supervisor binds the socket, starts the workers
    (spawned: each builds its app with worker_app), reports and replaces one that dies, and
    stops them all on SIGTERM or Ctrl-C; each worker closes its own match workers as it
    stops. It also pings each worker and kills one that does not answer in time as hung: a
    worker loading its models and building its index on a busy machine may answer late."""
    import uvicorn  # noqa: PLC0415

    from disinfodb.server.app import WORKER_ENV, worker_environment  # noqa: PLC0415

    with opened(db) as store:  # migrated here once, before the workers open it
        if store.location in ("", ":memory:"):
            fail("--workers: an in-memory database cannot be shared by several processes")
        location, cases, shown = store.location, store.count(), store.display_location
    out.print(f"Serving {shown} ({cases:,} cases) at http://{options['host']}:{options['port']}/ with"
              f" {settings.workers} worker processes (API docs at /docs)")
    os.environ[WORKER_ENV] = worker_environment(location, model, settings)
    uvicorn.run("disinfodb.server.app:worker_app", factory=True, workers=settings.workers,
                timeout_worker_healthcheck=WORKER_PING_TIMEOUT_S, **options)


def _log_config(default: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging, its access log without API keys (server.auth.RedactedKeys)."""
    config = copy.deepcopy(default)
    config.setdefault("filters", {})["redacted_keys"] = {"()": "disinfodb.server.auth.RedactedKeys"}
    config["handlers"]["access"].setdefault("filters", []).append("redacted_keys")
    return config


def _exit_through_finally(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
