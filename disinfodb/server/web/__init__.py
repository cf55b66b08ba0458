"""The web pages: server-rendered HTML (Jinja2) over the same Service as the API.

Every page works without JavaScript; `static/app.js` only improves it (upload progress,
keyboard shortcuts). The URL of a search holds its whole state, so links can be shared.
Forms that change anything carry a CSRF token (`pages.check_csrf`); web sessions are
server-side rows, so signing out ends them. pages.py renders; each *_pages.py module is
one area's routes.
"""

from __future__ import annotations

from fastapi import APIRouter

from disinfodb.server.web import (
    account_pages,
    case_pages,
    check_pages,
    import_pages,
    review_pages,
    trend_pages,
    triage_pages,
)
from disinfodb.server.web.pages import error_page, is_page

ROUTERS: tuple[APIRouter, ...] = (case_pages.router, check_pages.router, import_pages.router, account_pages.router,
                                  review_pages.router, trend_pages.router, triage_pages.router)

__all__ = ["ROUTERS", "error_page", "is_page"]
