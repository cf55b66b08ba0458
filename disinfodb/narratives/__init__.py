"""Narratives: recurring storylines across cases. `cluster` is the algorithm on claim
vectors, `build` runs it over a store; the narratives' tables, their reading and the
analysts' edits are `disinfodb.store.narratives`."""

from disinfodb.narratives.build import BuildReport, build_narratives
from disinfodb.narratives.cluster import ClusterParams
from disinfodb.store.narratives import Narrative, NarrativeBook, Theme

__all__ = ["BuildReport", "ClusterParams", "Narrative", "NarrativeBook", "Theme", "build_narratives"]
