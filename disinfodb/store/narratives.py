"""The narratives' tables: reading narratives and their cases, the analysts' edits
(rename, pin, merge, split) and saving a clustering (`disinfodb.narratives.build`).

Narratives keep their ids across re-runs, and analysts' edits are kept: a name replaces the
computed label and is never overwritten; a pinned narrative keeps its members and they are
not re-clustered; a merged narrative points to the one it was merged into; a split moves
chosen cases into a new, pinned narrative.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from disinfodb.errors import DisinfoError, NarrativeNotFound, ThemeNotFound
from disinfodb.store.term_index import IntArray

if TYPE_CHECKING:
    from disinfodb.store.sql_store import SQLStore


@dataclass(frozen=True)
class Cluster:
    """One narrative found by a clustering, to save: its cases, the narrative it continues
    (None: a new one), its distinctive terms, its most central case and its label (a
    statement from its central cases' titles: disinfodb.narratives.statement)."""

    members: set[int]  # case pks
    narrative_id: str | None
    terms: list[str]
    representative: int  # case pk
    label: str
    theme: int  # index into the themes saved with it


@dataclass(frozen=True)
class ThemeCluster:
    """One theme found by a clustering, to save: the theme it continues (None: a new one)
    and its label (its most distinctive keywords)."""

    theme_id: str | None
    label: str


@dataclass(frozen=True)
class Theme:
    id: str
    label: str  # its most distinctive keywords, "A · B · C"
    keywords: list[tuple[str, float]]  # dominant keywords with the share of its cases carrying each
    size: int  # cases in its narratives
    narratives: int
    first_seen: date | None
    last_seen: date | None
    retired: bool


@dataclass(frozen=True)
class Narrative:
    id: str
    label: str  # computed: a central case's claim (narratives.statement); the terms beside it
    name: str | None  # an analyst's name, if given
    terms: list[str]
    keywords: list[tuple[str, float]]  # dominant keywords with the share of members carrying each
    representative: str | None  # case id
    size: int
    first_seen: date | None
    last_seen: date | None
    pinned: bool
    merged_into: str | None
    retired: bool
    theme: str | None  # the theme it belongs to (None until a clustering placed it)

    @property
    def title(self) -> str:
        return self.name or self.label


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _day(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def _keywords(value: object) -> list[tuple[str, float]]:
    return [(str(k), float(v)) for k, v in json.loads(str(value))]


def _narrative(row: tuple[object, ...]) -> Narrative:
    (nid, label, name, terms, keywords, representative, size, first, last, pinned, merged, retired, theme) = row
    return Narrative(
        id=str(nid), label=str(label), name=str(name) if name else None, terms=json.loads(str(terms)),
        keywords=_keywords(keywords), representative=str(representative) if representative else None,
        size=int(str(size)), first_seen=_day(first), last_seen=_day(last), pinned=bool(pinned),
        merged_into=str(merged) if merged else None, retired=bool(retired), theme=str(theme) if theme else None)


def _theme(row: tuple[object, ...]) -> Theme:
    tid, label, keywords, size, narratives, first, last, retired = row
    return Theme(id=str(tid), label=str(label), keywords=_keywords(keywords), size=int(str(size)),
                 narratives=int(str(narratives)), first_seen=_day(first), last_seen=_day(last), retired=bool(retired))


_COLUMNS = ("n.id, n.label, n.name, n.terms, n.keywords, n.representative, n.size, n.first_seen, n.last_seen,"
            " n.pinned, n.merged_into, n.retired, nt.theme_id")
_FROM = "narratives n LEFT JOIN narrative_themes nt ON nt.narrative_id = n.id"
_THEME_COLUMNS = "id, label, keywords, size, narratives, first_seen, last_seen, retired"


class NarrativeBook:
    """The narratives of a store: reading them, the analysts' edits, and saving a clustering."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self._db = store._db

    # -- reading ----------------------------------------------------------------------

    def all(self, include_retired: bool = False) -> list[Narrative]:
        """Current narratives, largest first (merged ones are never listed)."""
        rows = self.store.fetch_all(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE n.merged_into IS NULL AND (? OR n.retired = 0)"
            " ORDER BY n.size DESC, n.id", (include_retired,))
        return [_narrative(r) for r in rows]

    def get(self, narrative_id: str) -> Narrative:
        """A narrative by id; a merged one resolves to the narrative it was merged into."""
        seen: set[str] = set()
        while True:
            rows = self.store.fetch_all(f"SELECT {_COLUMNS} FROM {_FROM} WHERE n.id = ?", (narrative_id,))
            if not rows:
                raise NarrativeNotFound(f"no narrative with id {narrative_id!r}")
            found = _narrative(rows[0])
            if found.merged_into is None or found.merged_into in seen:
                return found
            seen.add(found.id)
            narrative_id = found.merged_into

    def members(self, narrative_id: str) -> list[str]:
        """Ids of the cases in a narrative, newest first."""
        nid = self.get(narrative_id).id
        return [str(cid) for (cid,) in self.store.fetch_all(
            "SELECT c.id FROM case_narratives cn JOIN cases c ON c.pk = cn.case_pk WHERE cn.narrative_id = ?"
            " ORDER BY c.published DESC, c.pk DESC", (nid,))]

    def of_cases(self, case_ids: Iterable[str] | None = None) -> dict[str, str]:
        """case id -> narrative id, for the given cases (default: all that have one)."""
        rows = self.store.fetch_all("SELECT c.id, cn.narrative_id FROM case_narratives cn"
                                    " JOIN cases c ON c.pk = cn.case_pk")
        mapping = {str(cid): str(nid) for cid, nid in rows}
        if case_ids is None:
            return mapping
        return {cid: mapping[cid] for cid in case_ids if cid in mapping}

    def memberships(self) -> dict[int, str]:
        """case pk -> narrative id (what a re-clustering starts from)."""
        return {int(pk): str(nid) for pk, nid in self.store.fetch_all(
            "SELECT case_pk, narrative_id FROM case_narratives")}

    def themes(self, include_retired: bool = False) -> list[Theme]:
        """Current themes, largest first."""
        return [_theme(r) for r in self.store.fetch_all(
            f"SELECT {_THEME_COLUMNS} FROM themes WHERE ? OR retired = 0 ORDER BY size DESC, id",
            (include_retired,))]

    def theme(self, theme_id: str) -> Theme:
        rows = self.store.fetch_all(f"SELECT {_THEME_COLUMNS} FROM themes WHERE id = ?", (theme_id,))
        if not rows:
            raise ThemeNotFound(f"no theme with id {theme_id!r}")
        return _theme(rows[0])

    def of_theme(self, theme_id: str) -> list[Narrative]:
        """A theme's current narratives, largest first."""
        tid = self.theme(theme_id).id
        return [n for n in self.all() if n.theme == tid]

    def theme_memberships(self) -> dict[int, str]:
        """case pk -> theme id, through the cases' narratives (what a re-clustering of the
        themes starts from)."""
        return {int(pk): str(tid) for pk, tid in self.store.fetch_all(
            "SELECT cn.case_pk, nt.theme_id FROM case_narratives cn"
            " JOIN narrative_themes nt ON nt.narrative_id = cn.narrative_id")}

    def theme_groups(self) -> list[tuple[str, str, int]]:
        """(theme id, label, case pk) of every case in a theme, by theme number, then pk."""
        return [(str(tid), str(label), int(pk)) for tid, label, pk in self.store.fetch_all(
            "SELECT t.id, t.label, cn.case_pk FROM case_narratives cn"
            " JOIN narrative_themes nt ON nt.narrative_id = cn.narrative_id JOIN themes t ON t.id = nt.theme_id"
            " ORDER BY CAST(substr(t.id, 2) AS INTEGER), t.id, cn.case_pk")]

    def theme_member_pks(self, theme_id: str) -> IntArray:
        """The pks of the cases in a theme's narratives, ascending."""
        return self.store.int_column(
            "SELECT cn.case_pk AS value FROM case_narratives cn"
            " JOIN narrative_themes nt ON nt.narrative_id = cn.narrative_id WHERE nt.theme_id = ?",
            "value", (self.theme(theme_id).id,))

    # -- analysts' edits --------------------------------------------------------------

    def rename(self, narrative_id: str, name: str | None) -> Narrative:
        """Give a narrative a name (None: back to its computed label)."""
        nid = self.get(narrative_id).id
        cleaned = " ".join((name or "").split()) or None
        with self.store.transaction():
            self._db.execute("UPDATE narratives SET name = ?, updated_at = ? WHERE id = ?", (cleaned, _now(), nid))
        return self.get(nid)

    def pin(self, narrative_id: str, pinned: bool = True) -> Narrative:
        """Freeze (or release) a narrative's members: re-clustering leaves them alone."""
        nid = self.get(narrative_id).id
        with self.store.transaction():
            self._db.execute("UPDATE narratives SET pinned = ?, updated_at = ? WHERE id = ?",
                             (int(pinned), _now(), nid))
        return self.get(nid)

    def merge(self, source_id: str, target_id: str) -> Narrative:
        """Merge `source` into `target`: its cases move, its id now leads to the target."""
        source, target = self.get(source_id), self.get(target_id)
        if source.id == target.id:
            raise DisinfoError(f"{source.id} and {target_id} are already the same narrative")
        with self.store.transaction():
            self._db.execute("UPDATE case_narratives SET narrative_id = ? WHERE narrative_id = ?",
                             (target.id, source.id))
            self._db.execute("UPDATE narratives SET merged_into = ?, updated_at = ? WHERE id = ?",
                             (target.id, _now(), source.id))
            self._db.execute("DELETE FROM narrative_themes WHERE narrative_id = ?", (source.id,))
            self._refresh(target.id)
            self._refresh_themes({source.theme, target.theme})
        return self.get(target.id)

    def split(self, narrative_id: str, case_ids: list[str], name: str | None = None) -> Narrative:
        """Move some cases of a narrative into a new, pinned narrative (so re-clustering
        cannot fold them back)."""
        source = self.get(narrative_id)
        members = set(self.members(source.id))
        moving = list(dict.fromkeys(case_ids))
        strangers = [c for c in moving if c not in members]
        if strangers:
            raise DisinfoError(f"not in narrative {source.id}: {', '.join(strangers[:5])}")
        if not moving or len(moving) == len(members):
            raise DisinfoError("a split needs some, but not all, of the narrative's cases")
        with self.store.transaction():
            new_id = self._new_id("narratives", "n")
            self._insert(new_id, label=source.label, terms=source.terms, keywords=source.keywords, pinned=True,
                         name=name)
            self._db.executemany("UPDATE case_narratives SET narrative_id = ? WHERE case_pk = ?",
                                 [(new_id, self.store.pk_of(c)) for c in moving])
            if source.theme:  # the split-off part stays in its theme until the next clustering
                self._db.execute("INSERT INTO narrative_themes (narrative_id, theme_id) VALUES (?, ?)",
                                 (new_id, source.theme))
            self._refresh(source.id)
            self._refresh(new_id)
            self._refresh_themes({source.theme})
        return self.get(new_id)

    def member_pks(self, narrative_id: str) -> IntArray:
        """The pks of a narrative's cases (a merged id: the narrative it joined), ascending."""
        return self.store.int_column("SELECT case_pk AS value FROM case_narratives WHERE narrative_id = ?",
                                     "value", (self.get(narrative_id).id,))

    def members_page(self, narrative_id: str, page: int, per_page: int
                     ) -> tuple[list[tuple[str, str, date | None]], int]:
        """One page of a narrative's cases (id, title, published), newest first, and how many."""
        nid = self.get(narrative_id).id
        with self.store.snapshot():
            total = int(self._db.execute("SELECT count(*) FROM case_narratives WHERE narrative_id = ?",
                                         (nid,)).fetchone()[0])
            rows = self._db.execute(
                "SELECT c.id, c.title, c.published FROM case_narratives cn JOIN cases c ON c.pk = cn.case_pk"
                " WHERE cn.narrative_id = ? ORDER BY c.published DESC, c.pk DESC LIMIT ? OFFSET ?",
                (nid, per_page, (page - 1) * per_page)).fetchall()
        return [(str(i), str(t), date.fromisoformat(p) if p else None) for i, t, p in rows], total

    def groups(self) -> list[tuple[str, str, int]]:
        """(narrative id, title, case pk) of every membership, by narrative number, then pk."""
        return [(str(nid), str(title), int(pk)) for nid, title, pk in self.store.fetch_all(
            "SELECT n.id, coalesce(n.name, n.label), cn.case_pk FROM case_narratives cn"
            " JOIN narratives n ON n.id = cn.narrative_id"
            " ORDER BY CAST(substr(n.id, 2) AS INTEGER), n.id, cn.case_pk")]

    def merge_targets(self) -> set[str]:
        """The narratives others were merged into."""
        return {str(t) for (t,) in self.store.fetch_all(
            "SELECT DISTINCT merged_into FROM narratives WHERE merged_into IS NOT NULL")}

    # -- writing the clustering ---------------------------------------------------------

    def save_clusters(self, clusters: list[Cluster], themes: list[ThemeCluster],
                      pinned_themes: dict[str, int]) -> tuple[int, int]:
        """Replace every membership outside pinned narratives by these clusters, and every
        narrative's theme by these themes, in one transaction: each continues its narrative
        or theme (or starts a new one), with its label, terms and representative; sizes,
        dates and keywords are recounted. `pinned_themes`: pinned narrative id -> index into
        `themes`. Returns how many narratives and themes were created."""
        created = created_themes = 0
        with self.store.transaction():
            old = set(self.memberships().values())
            self._db.execute(
                "DELETE FROM case_narratives WHERE narrative_id NOT IN (SELECT id FROM narratives WHERE pinned = 1)")
            self._db.execute("DELETE FROM narrative_themes")
            theme_ids = []
            for theme in themes:
                tid = theme.theme_id
                if tid is None:
                    tid = self._new_id("themes", "t")
                    now = _now()
                    self._db.execute(
                        "INSERT INTO themes (id, label, keywords, size, narratives, created_at, updated_at)"
                        " VALUES (?, ?, '[]', 0, 0, ?, ?)", (tid, theme.label, now, now))
                    created_themes += 1
                else:
                    self._db.execute("UPDATE themes SET label = ? WHERE id = ?", (theme.label, tid))
                theme_ids.append(tid)
            touched = set(old)
            for cluster in clusters:
                nid = cluster.narrative_id
                if nid is None:
                    nid = self._new_id("narratives", "n")
                    self._insert(nid, label="", terms=[], keywords=[])
                    created += 1
                self._db.executemany("INSERT INTO case_narratives (case_pk, narrative_id) VALUES (?, ?)",
                                     [(pk, nid) for pk in sorted(cluster.members)])
                self._db.execute(
                    "UPDATE narratives SET label = ?, terms = ?, representative = (SELECT id FROM cases WHERE pk = ?),"
                    " retired = 0 WHERE id = ?", (cluster.label or nid, json.dumps(cluster.terms),
                                                  cluster.representative, nid))
                self._db.execute("INSERT INTO narrative_themes (narrative_id, theme_id) VALUES (?, ?)",
                                 (nid, theme_ids[cluster.theme]))
                touched.add(nid)
            self._db.executemany("INSERT INTO narrative_themes (narrative_id, theme_id) VALUES (?, ?)",
                                 [(nid, theme_ids[number]) for nid, number in pinned_themes.items()])
            for nid in touched:
                self._refresh(nid)
            every = {str(t) for (t,) in self._db.execute("SELECT id FROM themes").fetchall()}
            self._refresh_themes(every)
        return created, created_themes

    def _new_id(self, table: str, prefix: str) -> str:
        number = self._db.execute(
            f"SELECT coalesce(max(CAST(substr(id, 2) AS INTEGER)), 0) FROM {table}").fetchone()[0]
        return f"{prefix}{int(number) + 1}"

    def _insert(self, nid: str, label: str, terms: list[str], keywords: list[tuple[str, float]],
                pinned: bool = False, name: str | None = None) -> None:
        now = _now()
        self._db.execute(
            "INSERT INTO narratives (id, label, name, terms, keywords, size, pinned, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (nid, label, name, json.dumps(terms), json.dumps(keywords), int(pinned), now, now))

    def _refresh(self, nid: str) -> None:
        """Recount a narrative's size, dates and dominant keywords from its members."""
        rows = self._db.execute(
            "SELECT c.published, c.doc FROM case_narratives cn JOIN cases c ON c.pk = cn.case_pk"
            " WHERE cn.narrative_id = ?", (nid,)).fetchall()
        size, first, last, top = _counted(rows)
        self._db.execute(
            "UPDATE narratives SET size = ?, first_seen = ?, last_seen = ?, keywords = ?, retired = ?,"
            " updated_at = ? WHERE id = ?", (size, first, last, top, int(not size), _now(), nid))

    def _refresh_themes(self, theme_ids: Iterable[str | None]) -> None:
        """Recount themes' sizes, narratives, dates and dominant keywords (a theme with no
        narrative left is retired)."""
        for tid in sorted(t for t in theme_ids if t):
            rows = self._db.execute(
                "SELECT c.published, c.doc FROM narrative_themes nt"
                " JOIN case_narratives cn ON cn.narrative_id = nt.narrative_id JOIN cases c ON c.pk = cn.case_pk"
                " WHERE nt.theme_id = ?", (tid,)).fetchall()
            narratives = int(self._db.execute("SELECT count(*) FROM narrative_themes WHERE theme_id = ?",
                                              (tid,)).fetchone()[0])
            size, first, last, top = _counted(rows)
            self._db.execute(
                "UPDATE themes SET size = ?, narratives = ?, first_seen = ?, last_seen = ?, keywords = ?,"
                " retired = ?, updated_at = ? WHERE id = ?",
                (size, narratives, first, last, top, int(not size), _now(), tid))


def _counted(rows: list[tuple[object, str]]) -> tuple[int, str | None, str | None, str]:
    """Cases' (published, doc) rows as size, first and last date, and the JSON of the five
    dominant keywords with the share of cases carrying each."""
    dates = sorted(str(p) for p, _ in rows if p)
    keywords = Counter(k for _, doc in rows for k in json.loads(doc)["keywords"])
    top = [(k, round(n / len(rows), 3)) for k, n in keywords.most_common(5)] if rows else []
    return len(rows), dates[0] if dates else None, dates[-1] if dates else None, json.dumps(top)
