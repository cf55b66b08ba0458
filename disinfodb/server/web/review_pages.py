"""The weekly review pages: the list of issues, one issue's digest (as a page, as Markdown
and as a standalone HTML file to download) and the Atom feed of the latest issues."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from disinfodb.review import (
    FEED_ENTRIES,
    Digest,
    atom_feed,
    build_digest,
    review_issues,
    template_context,
    to_html,
    to_markdown,
)
from disinfodb.server.auth import PageVisitor, ServiceDep
from disinfodb.server.service import Service
from disinfodb.server.web.i18n import translator
from disinfodb.server.web.pages import render

router = APIRouter(include_in_schema=False)


def _base_url(request: Request) -> str:
    """Where absolute links point: the configured public URL, never the request's Host
    header (which any client sets, and a cache or a feed reader would keep)."""
    service: Service = request.app.state.service
    return service.settings.public_url


def _cache(response: Response, user: object) -> Response:
    response.headers["Cache-Control"] = "no-store" if user else "private, max-age=0"
    return response


@router.get("/review", response_class=HTMLResponse)
def review_index(service: ServiceDep, request: Request, _: PageVisitor) -> HTMLResponse:
    return render(request, "review_index.html", {"issues": review_issues(service.reader),
                                                 "title": translator(request).gettext("Weekly review issues")})


# The file routes come before the page route; `:int` keeps "82.md" from reaching it anyway.
@router.get("/review/{issue:int}.md")
def review_markdown(service: ServiceDep, request: Request, issue: int, user: PageVisitor) -> Response:
    text = to_markdown(build_digest(service.reader, issue), _base_url(request))
    response = Response(text, media_type="text/markdown",
                        headers={"Content-Disposition": f'inline; filename="disinfo-review-{issue}.md"'})
    return _cache(response, user)


@router.get("/review/{issue:int}.html", response_class=HTMLResponse)
def review_standalone(service: ServiceDep, request: Request, issue: int, user: PageVisitor) -> Response:
    page = to_html(build_digest(service.reader, issue), _base_url(request))
    response = HTMLResponse(page, headers={
        "Content-Disposition": f'inline; filename="disinfo-review-{issue}.html"',
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
    return _cache(response, user)


@router.get("/review/{issue:int}", response_class=HTMLResponse)
def review_page(service: ServiceDep, request: Request, issue: int, _: PageVisitor) -> HTMLResponse:
    digest: Digest = build_digest(service.reader, issue)
    numbers = [info.issue for info in review_issues(service.reader)]  # newest first
    at = numbers.index(issue)
    older = numbers[at + 1] if at + 1 < len(numbers) else None
    newer = numbers[at - 1] if at > 0 else None
    context = template_context(digest, "") | {"older": older, "newer": newer, "title": digest.title}
    return render(request, "review.html", context)


@router.get("/feed.xml")
def review_feed(service: ServiceDep, request: Request, user: PageVisitor) -> Response:
    feed = atom_feed(service.reader, FEED_ENTRIES, _base_url(request))
    return _cache(Response(feed, media_type="application/atom+xml"), user)
