"""Suggested metadata for a new case: keywords, countries and article languages, from
models trained on the archive's cases (model.py: one facet's model on arrays; metadata.py:
the store's cases and claim vectors in, suggestions for a text out, the models cached)."""

from disinfodb.suggest.metadata import (
    MAX_TEXT_CHARS,
    MetadataModel,
    Suggestion,
    Suggestions,
    metadata_model,
    suggest_metadata,
)

__all__ = ["MAX_TEXT_CHARS", "MetadataModel", "Suggestion", "Suggestions", "metadata_model", "suggest_metadata"]
