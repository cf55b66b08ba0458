"""The schema, defined once: SQLAlchemy Core tables (compiled to each engine's DDL), and
beside them the parts only one engine has (SQLite's FTS5 table and its triggers;
PostgreSQL's text search configuration, generated `tsvector` column and change counter).

The tables are created by an ordered list of steps: step N is Alembic revision N on both
engines (`disinfodb.store.migrate`). A database records how many steps it has had
(alembic_version, and on SQLite also PRAGMA user_version); opening it applies the rest in
one transaction, so an old file upgrades itself and a new database is built the same way.
Both engines have the same tables and columns, with the types of SQLite (ISO-8601 text
dates, 0/1 integers for flags): every query, the copy between engines and the checksum of
a copy read both the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

# Keys: SQLite's INTEGER PRIMARY KEY is the rowid (an alias, no second index); PostgreSQL's an identity.
Key = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

cases = Table(
    "cases", metadata,
    Column("pk", Key, Identity(), primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("url", Text, unique=True),
    Column("content_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("disproof", Text, nullable=False),
    Column("tags", Text, nullable=False),  # keywords and countries, so words in them are searchable
    Column("published", Text),
    Column("issue", Integer),
    Column("doc", Text, nullable=False),  # the whole case as JSON
    Column("version", Integer, CheckConstraint("version >= 1"), nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)
Index("cases_content_id", cases.c.content_id)
Index("cases_published", cases.c.published, cases.c.pk)

# Facet values (a keyword, a country, a language, an outlet, an issue, a year) and which
# cases carry them: filters and facet counts read only these two tables.
terms = Table(
    "terms", metadata,
    Column("id", Key, Identity(), primary_key=True),
    Column("facet", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("label", Text, nullable=False),
    UniqueConstraint("facet", "key"),
)
case_terms = Table(
    "case_terms", metadata,
    Column("case_pk", Key, ForeignKey("cases.pk", ondelete="CASCADE"), primary_key=True),
    Column("term_id", Key, ForeignKey("terms.id"), primary_key=True),
    sqlite_with_rowid=False,
)
Index("case_terms_by_term", case_terms.c.term_id, case_terms.c.case_pk)

# Every create/update/delete, with the case as it was before (NULL for a create).
audit = Table(
    "audit", metadata,
    Column("seq", Key, Identity(), primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("action", Text, CheckConstraint("action IN ('create', 'update', 'delete')"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("actor", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("previous", Text),
)
Index("audit_by_case", audit.c.case_id, audit.c.seq)

# Cached embeddings of each case's claim units, per model.
embeddings = Table(
    "embeddings", metadata,
    Column("case_pk", Key, ForeignKey("cases.pk", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, primary_key=True),
    Column("text_hash", Text, nullable=False),  # of the units' text: recompute only when it changes
    Column("units", Text, nullable=False),  # JSON list of the sentences embedded
    Column("vectors", LargeBinary, nullable=False),  # float32, len(units) x dim, row-major
    sqlite_with_rowid=False,
)

# Accounts: only hashes of passwords, API tokens and web sessions are stored.
users = Table(
    "users", metadata,
    Column("name", Text, primary_key=True),
    Column("role", Text, CheckConstraint("role IN ('reader', 'editor', 'admin')"), nullable=False),
    Column("password_hash", Text),  # scrypt; NULL: this user signs in with tokens only
    Column("created_at", Text, nullable=False),
)
tokens = Table(
    "tokens", metadata,
    Column("hash", Text, primary_key=True),  # sha256 of the token
    Column("user_name", Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("label", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("last_used_at", Text),
)
sessions = Table(
    "sessions", metadata,
    Column("hash", Text, primary_key=True),  # sha256 of the session cookie
    Column("user_name", Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("expires_at", Text, nullable=False),
)

# Narratives (recurring storylines) found by clustering, with the analysts' edits.
narratives = Table(
    "narratives", metadata,
    Column("id", Text, primary_key=True),  # 'n1', 'n2', ...: stable across re-clustering
    Column("label", Text, nullable=False),  # from the clustering: its distinctive terms
    Column("name", Text),  # an analyst's name: shown instead of the label, kept
    Column("terms", Text, nullable=False),  # JSON list of distinctive terms
    Column("keywords", Text, nullable=False),  # JSON list of [keyword, share of members]
    Column("representative", Text),  # id of the case nearest its centre
    Column("size", Integer, nullable=False),
    Column("first_seen", Text),
    Column("last_seen", Text),
    Column("pinned", Integer, nullable=False, server_default=text("0")),  # an analyst froze its members
    Column("merged_into", Text, ForeignKey("narratives.id", deferrable=True)),
    Column("retired", Integer, nullable=False, server_default=text("0")),  # no current cluster continues it
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)
case_narratives = Table(
    "case_narratives", metadata,
    Column("case_pk", Key, ForeignKey("cases.pk", ondelete="CASCADE"), primary_key=True),
    Column("narrative_id", Text, ForeignKey("narratives.id"), nullable=False),
)
Index("case_narratives_by_narrative", case_narratives.c.narrative_id)

# Themes: broad groups of narratives (a second level of the same clustering), ids stable
# across re-clustering like the narratives'.
themes = Table(
    "themes", metadata,
    Column("id", Text, primary_key=True),  # 't1', 't2', ...
    Column("label", Text, nullable=False),  # its most distinctive keywords, "A · B · C"
    Column("keywords", Text, nullable=False),  # JSON list of [keyword, share of its cases]
    Column("size", Integer, nullable=False),  # cases in its narratives
    Column("narratives", Integer, nullable=False),
    Column("first_seen", Text),
    Column("last_seen", Text),
    Column("retired", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)
narrative_themes = Table(
    "narrative_themes", metadata,
    Column("narrative_id", Text, ForeignKey("narratives.id"), primary_key=True),
    Column("theme_id", Text, ForeignKey("themes.id"), nullable=False),
)
Index("narrative_themes_by_theme", narrative_themes.c.theme_id)

# What `disinfodb watch` has seen: every document once, by its source (a folder, a file or
# a feed URL, as given) and its id there, with its fingerprints: `text_hash` (sha256 of the
# normalised text: an exact copy) and `simhash` (64 bits, signed: a near copy is a few bits
# away; disinfodb.watch.fingerprint). What the queue shows of a document (title .. text) is
# kept only for documents with hits.
watched_documents = Table(
    "watched_documents", metadata,
    Column("pk", Key, Identity(), primary_key=True),
    Column("source", Text, nullable=False),
    Column("doc_id", Text, nullable=False),
    Column("text_hash", Text, nullable=False),
    Column("simhash", BigInteger, nullable=False),
    Column("duplicate_of", Key, ForeignKey("watched_documents.pk")),  # a near or exact copy of this one: not matched
    Column("seen_at", Text, nullable=False),
    Column("title", Text),
    Column("outlet", Text),  # where it was published: a site's name, a channel, else the URL's host
    Column("url", Text),
    Column("published", Text),  # ISO 8601, as the source gives it (a date, or a date and time)
    Column("lang", Text),
    Column("text", Text),
    UniqueConstraint("source", "doc_id"),
)
Index("watched_documents_by_hash", watched_documents.c.text_hash)
# The files of a watched source read to their end, as they were then (size, mtime): a file
# that is unchanged since is not opened again.
watched_files = Table(
    "watched_files", metadata,
    Column("source", Text, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
)
# The triage queue: one row per (document, matched case), decided by an editor.
triage = Table(
    "triage", metadata,
    Column("id", Key, Identity(), primary_key=True),
    Column("document_pk", Key, ForeignKey("watched_documents.pk", ondelete="CASCADE"), nullable=False),
    Column("case_pk", Key, ForeignKey("cases.pk", ondelete="CASCADE"), nullable=False),
    Column("score", Float, nullable=False),
    Column("label", Text, CheckConstraint("label IN ('related', 'match')"), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON list of {input_sentence, case_sentence, score, at}
    Column("status", Text, CheckConstraint("status IN ('open', 'confirmed', 'dismissed')"), nullable=False,
           server_default=text("'open'")),
    Column("found_at", Text, nullable=False),
    Column("decided_by", Text),
    Column("decided_at", Text),
    UniqueConstraint("document_pk", "case_pk"),
)
Index("triage_by_status", triage.c.status, triage.c.id)
Index("triage_by_case", triage.c.case_pk)

# The rate limits of `serve --workers N`, shared by its processes: one token bucket per
# limiter and client, as it was at `at` (Unix time). A row untouched for a minute is a
# full bucket, the same as no row (server.limits.SharedRateLimiter; store.rate_buckets).
rate_buckets = Table(
    "rate_buckets", metadata,
    Column("limiter", Text, primary_key=True),  # "match", "import", "sign-in", ...
    Column("client", Text, primary_key=True),  # "user:NAME" or "ip:ADDRESS"
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False),
)
Index("rate_buckets_by_time", rate_buckets.c.at)

# -- what only one engine has -------------------------------------------------------------

SQLITE_TOKENIZER = "porter unicode61 remove_diacritics 2"  # also the ranking index's (store/ranking.py)
SQLITE_FULL_TEXT = (
    f"""CREATE VIRTUAL TABLE cases_fts USING fts5 (
        title, summary, disproof, tags,
        content = 'cases', content_rowid = 'pk',
        -- porter: "revolution" finds "revolutions" (it only stems ASCII words, so other
        -- scripts pass through unicode61 unchanged); diacritics are folded away.
        tokenize = '{SQLITE_TOKENIZER}'
    )""",
    """CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
        INSERT INTO cases_fts (rowid, title, summary, disproof, tags)
        VALUES (new.pk, new.title, new.summary, new.disproof, new.tags);
    END""",
    """CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
        INSERT INTO cases_fts (cases_fts, rowid, title, summary, disproof, tags)
        VALUES ('delete', old.pk, old.title, old.summary, old.disproof, old.tags);
    END""",
    """CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, summary, disproof, tags ON cases BEGIN
        INSERT INTO cases_fts (cases_fts, rowid, title, summary, disproof, tags)
        VALUES ('delete', old.pk, old.title, old.summary, old.disproof, old.tags);
        INSERT INTO cases_fts (rowid, title, summary, disproof, tags)
        VALUES (new.pk, new.title, new.summary, new.disproof, new.tags);
    END""",
)

# Full text: the 'simple' parser for every script, English snowball stems on ASCII words
# (like FTS5's porter), and diacritics folded away (unaccent is a trusted extension: the
# database owner may create it without being a superuser). Title > summary > tags > disproof.
POSTGRES_TEXT_SEARCH = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH DICTIONARY disinfodb_english (TEMPLATE = snowball, LANGUAGE = english)",
    "CREATE TEXT SEARCH CONFIGURATION disinfodb (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION disinfodb ALTER MAPPING FOR asciiword, asciihword, hword_asciipart"
    " WITH disinfodb_english",
    "ALTER TEXT SEARCH CONFIGURATION disinfodb ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple",
)
POSTGRES_FULL_TEXT = (
    """ALTER TABLE cases ADD COLUMN fts TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('disinfodb', title), 'A') ||
        setweight(to_tsvector('disinfodb', summary), 'B') ||
        setweight(to_tsvector('disinfodb', tags), 'C') ||
        setweight(to_tsvector('disinfodb', disproof), 'D')) STORED""",
    "CREATE INDEX cases_fts ON cases USING GIN (fts)",
    # What SQLite's PRAGMA data_version gives: a counter any committed change to cases moves,
    # so every connection knows when its in-memory term index is stale. Moved once per
    # transaction: updating one row at every statement of a 10,000-case import makes each
    # update walk the row's ever longer version chain (quadratic).
    "CREATE TABLE change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL)",
    "INSERT INTO change_counter VALUES (1, 0)",
    """CREATE FUNCTION count_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('disinfodb.counted', true) IS DISTINCT FROM 'yes' THEN
                UPDATE change_counter SET value = value + 1 WHERE id = 1;
                PERFORM set_config('disinfodb.counted', 'yes', true);  -- until the transaction ends
            END IF;
            RETURN NULL;
        END $$""",
    "CREATE TRIGGER cases_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cases"
    " FOR EACH STATEMENT EXECUTE FUNCTION count_change()",
)


@dataclass(frozen=True)
class Step:
    """One migration: tables to create (with their indexes), and each engine's own statements
    before and after them."""

    tables: tuple[Table, ...]
    sqlite_after: tuple[str, ...] = ()
    postgres_before: tuple[str, ...] = ()
    postgres_after: tuple[str, ...] = ()

    def statements(self, dialect: Dialect) -> list[str]:
        """The step's DDL in one engine's dialect, in order."""
        created = [str(CreateTable(table).compile(dialect=dialect)).strip() for table in self.tables]
        created += [str(CreateIndex(index).compile(dialect=dialect)).strip()
                    for table in self.tables for index in sorted(table.indexes, key=lambda i: str(i.name))]
        if dialect.name == "sqlite":
            return [*created, *self.sqlite_after]
        return [*self.postgres_before, *created, *self.postgres_after]


STEPS: tuple[Step, ...] = (
    # 1: cases, their facet terms, the full-text index and the audit trail.
    Step((cases, terms, case_terms, audit), sqlite_after=SQLITE_FULL_TEXT,
         postgres_before=POSTGRES_TEXT_SEARCH, postgres_after=POSTGRES_FULL_TEXT),
    # 2: cached embeddings of each case's claim units, per model.
    Step((embeddings,)),
    # 3: accounts.
    Step((users, tokens, sessions)),
    # 4: narratives.
    Step((narratives, case_narratives)),
    # 5: what `watch` has seen, and the triage queue of its hits.
    Step((watched_documents, watched_files, triage)),
    # 6: themes over the narratives.
    Step((themes, narrative_themes)),
    # 7: the rate limits that several server processes share.
    Step((rate_buckets,)),
)
DIALECTS: dict[str, Dialect] = {"sqlite": SQLiteDialect(), "postgresql": PGDialect()}  # type: ignore[no-untyped-call]

#: Every table, parents before children: the order a copy between databases writes them.
TABLES: tuple[str, ...] = tuple(table.name for step in STEPS for table in step.tables)

#: Each table's columns on both engines (PostgreSQL's generated `fts` is not copied).
COLUMNS: dict[str, tuple[str, ...]] = {table.name: tuple(c.name for c in table.columns)
                                       for table in metadata.sorted_tables}

#: Each table's primary key: the order a copy reads it in.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    table.name: tuple(c.name for c in table.primary_key.columns) for table in metadata.sorted_tables}
