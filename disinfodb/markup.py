"""HTML helpers shared by the web pages and the standalone review page."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape text and turn the web addresses in it into links (disproofs cite sources
    inline); trailing punctuation stays outside the link."""
    parts, at = [], 0
    for found in URL.finditer(text):
        url = found.group(0).rstrip(".,;:!?)]")
        parts.append(escape(text[at:found.start()]))
        parts.append(Markup('<a href="{0}" rel="nofollow noopener noreferrer">{0}</a>').format(url))
        at = found.start() + len(url)
    parts.append(escape(text[at:]))
    return Markup("").join(parts)
