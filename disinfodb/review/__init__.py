"""The weekly review: `digest` groups the cases one issue reported (by narrative, then
keyword), `render` writes it as Markdown, a standalone HTML page or an Atom feed."""

from disinfodb.review.digest import Digest, Group, IssueInfo, build_digest, plural, review_issues
from disinfodb.review.render import (
    DEFAULT_BASE_URL,
    FEED_ENTRIES,
    atom_feed,
    clean_base_url,
    template_context,
    to_html,
    to_markdown,
)

__all__ = ["DEFAULT_BASE_URL", "FEED_ENTRIES", "Digest", "Group", "IssueInfo", "atom_feed", "build_digest",
           "clean_base_url", "plural", "review_issues", "template_context", "to_html", "to_markdown"]
