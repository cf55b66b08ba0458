"""Watching sources for new documents that repeat debunked cases: sources.py (folders,
files, feed URLs, and each document's id there), fingerprint.py (exact and near copies),
run.py (the passes: each document matched once, its hits queued for triage), webhook.py
(new hits POSTed elsewhere, off the watch's path)."""

from disinfodb.watch.run import PassSummary, Watch
from disinfodb.watch.webhook import Webhook

__all__ = ["PassSummary", "Watch", "Webhook"]
