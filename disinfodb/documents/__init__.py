"""Reading what analysts collect into documents to match: web pages (html.py), PDFs
(pdf.py), Telegram exports (telegram.py), RSS/Atom feeds (feeds.py), subtitles
(subtitles.py) and plain text (plain.py); sources.py picks the reader for a file and
walks folders, lang.py detects a language the source does not state; base.py holds the
Document they all yield."""

from disinfodb.documents.base import Document, Segment, Skipped, joined, locate
from disinfodb.documents.sources import document_files, read_content, read_documents, read_file, read_upload

__all__ = ["Document", "Segment", "Skipped", "document_files", "joined", "locate", "read_content", "read_documents",
           "read_file", "read_upload"]
