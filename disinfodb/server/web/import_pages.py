"""Importing a file from the browser (editors): the upload, then the per-record report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from disinfodb.errors import DisinfoError, ImportRejected
from disinfodb.server.auth import PageEditor, ServiceDep, client_key
from disinfodb.server.problems import status_of
from disinfodb.server.web.i18n import translator
from disinfodb.server.web.pages import check_csrf, render

router = APIRouter(include_in_schema=False)


@router.get("/import", response_class=HTMLResponse)
def import_page(service: ServiceDep, request: Request, _: PageEditor) -> HTMLResponse:
    return render(request, "import.html", {"report": None, "title": translator(request).gettext("Import cases")})


@router.post("/import", response_class=HTMLResponse)
def import_file(service: ServiceDep, request: Request, user: PageEditor, file: Annotated[UploadFile, File()],
                csrf: Annotated[str, Form()] = "", dry_run: Annotated[bool, Form()] = False,
                skip_invalid: Annotated[bool, Form()] = False) -> HTMLResponse:
    check_csrf(request, csrf)
    tr = translator(request)
    title = tr.gettext("Import cases")
    service.import_limiter.check(client_key(user, request))
    try:
        report = service.import_upload(file.file, file.filename, None, user.name, dry_run=dry_run,
                                       skip_invalid=skip_invalid)
    except DisinfoError as error:
        status, _title = status_of(error)
        problems = error.problems if isinstance(error, ImportRejected) else []
        message = (tr.ngettext("%(num)s bad record, listed below. Fix it, or tick “Skip bad records”.",
                               "%(num)s bad records, listed below. Fix them, or tick “Skip bad records”.",
                               len(problems)) % {"num": len(problems)}
                   if problems else str(error))
        return render(request, "import.html", {"report": None, "error": message, "problems": problems,
                                               "filename": file.filename, "title": title}, status=status)
    return render(request, "import.html", {"report": report, "filename": file.filename, "title": title})
