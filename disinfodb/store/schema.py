"""The schema, as one ordered list of steps written for each engine: step N is Alembic
revision N on both (`disinfodb.store.migrate`).

A database records how many steps it has had (alembic_version, and on SQLite also PRAGMA
user_version); opening it applies the rest in one transaction, so an old file upgrades
itself and a new database is built the same way.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: cases, their facet terms, the full-text index and the audit trail.
    """
    CREATE TABLE cases (
        pk          INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        url         TEXT UNIQUE,
        content_id  TEXT NOT NULL,
        title       TEXT NOT NULL,
        summary     TEXT NOT NULL,
        disproof    TEXT NOT NULL,
        tags        TEXT NOT NULL,  -- keywords and countries, so words in them are searchable
        published   TEXT,
        issue       INTEGER,
        doc         TEXT NOT NULL,
        version     INTEGER NOT NULL CHECK (version >= 1),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX cases_content_id ON cases (content_id);
    CREATE INDEX cases_published ON cases (published, pk);

    -- Facet values (a keyword, a country, a language, an outlet, an issue, a year) and
    -- which cases carry them: filters and facet counts read only these two tables.
    CREATE TABLE terms (
        id     INTEGER PRIMARY KEY,
        facet  TEXT NOT NULL,
        key    TEXT NOT NULL,
        label  TEXT NOT NULL,
        UNIQUE (facet, key)
    );
    CREATE TABLE case_terms (
        case_pk  INTEGER NOT NULL REFERENCES cases (pk) ON DELETE CASCADE,
        term_id  INTEGER NOT NULL REFERENCES terms (id),
        PRIMARY KEY (case_pk, term_id)
    ) WITHOUT ROWID;
    CREATE INDEX case_terms_by_term ON case_terms (term_id, case_pk);

    CREATE VIRTUAL TABLE cases_fts USING fts5 (
        title, summary, disproof, tags,
        content = 'cases', content_rowid = 'pk',
        -- porter: "revolution" finds "revolutions" (it only stems ASCII words, so other
        -- scripts pass through unicode61 unchanged); diacritics are folded away.
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
        INSERT INTO cases_fts (rowid, title, summary, disproof, tags)
        VALUES (new.pk, new.title, new.summary, new.disproof, new.tags);
    END;
    CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
        INSERT INTO cases_fts (cases_fts, rowid, title, summary, disproof, tags)
        VALUES ('delete', old.pk, old.title, old.summary, old.disproof, old.tags);
    END;
    CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, summary, disproof, tags ON cases BEGIN
        INSERT INTO cases_fts (cases_fts, rowid, title, summary, disproof, tags)
        VALUES ('delete', old.pk, old.title, old.summary, old.disproof, old.tags);
        INSERT INTO cases_fts (rowid, title, summary, disproof, tags)
        VALUES (new.pk, new.title, new.summary, new.disproof, new.tags);
    END;

    -- Every create/update/delete, with the case as it was before (NULL for a create).
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        case_id   TEXT NOT NULL,
        action    TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
        version   INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        at        TEXT NOT NULL,
        previous  TEXT
    );
    CREATE INDEX audit_by_case ON audit (case_id, seq);
    """,
    # 2: cached embeddings of each case's claim units, per model.
    """
    CREATE TABLE embeddings (
        case_pk    INTEGER NOT NULL REFERENCES cases (pk) ON DELETE CASCADE,
        model      TEXT NOT NULL,
        text_hash  TEXT NOT NULL,   -- of the units' text: recompute only when it changes
        units      TEXT NOT NULL,   -- JSON list of the sentences embedded
        vectors    BLOB NOT NULL,   -- float32, len(units) x dim, row-major
        PRIMARY KEY (case_pk, model)
    ) WITHOUT ROWID;
    """,
    # 3: accounts. Only hashes of passwords, API tokens and web sessions are stored.
    """
    CREATE TABLE users (
        name           TEXT PRIMARY KEY,
        role           TEXT NOT NULL CHECK (role IN ('reader', 'editor', 'admin')),
        password_hash  TEXT,          -- scrypt; NULL: this user signs in with tokens only
        created_at     TEXT NOT NULL
    );
    CREATE TABLE tokens (
        hash          TEXT PRIMARY KEY,   -- sha256 of the token
        user_name     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        label         TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        last_used_at  TEXT
    );
    CREATE TABLE sessions (
        hash        TEXT PRIMARY KEY,     -- sha256 of the session cookie
        user_name   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        expires_at  TEXT NOT NULL
    );
    """,
    # 4: narratives (recurring storylines) found by clustering, with analysts' edits.
    """
    CREATE TABLE narratives (
        id              TEXT PRIMARY KEY,   -- 'n1', 'n2', ...: stable across re-clustering
        label           TEXT NOT NULL,      -- from the clustering: its distinctive terms
        name            TEXT,               -- an analyst's name: shown instead of the label, kept
        terms           TEXT NOT NULL,      -- JSON list of distinctive terms
        keywords        TEXT NOT NULL,      -- JSON list of [keyword, share of members]
        representative  TEXT,               -- id of the case nearest its centre
        size            INTEGER NOT NULL,
        first_seen      TEXT,
        last_seen       TEXT,
        pinned          INTEGER NOT NULL DEFAULT 0,  -- an analyst froze its members
        merged_into     TEXT REFERENCES narratives (id),
        retired         INTEGER NOT NULL DEFAULT 0,  -- no current cluster continues it
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );
    CREATE TABLE case_narratives (
        case_pk       INTEGER PRIMARY KEY REFERENCES cases (pk) ON DELETE CASCADE,
        narrative_id  TEXT NOT NULL REFERENCES narratives (id)
    );
    CREATE INDEX case_narratives_by_narrative ON case_narratives (narrative_id);
    """,
)


# The same steps for PostgreSQL: both engines always have the same tables and columns. The types
# stay those of SQLite (ISO-8601 text dates, 0/1 integers for flags): every query, the
# copy between engines and the checksum of a copy read both the same way.
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Full text: the 'simple' parser for every script, English snowball stems on ASCII
        # words (like FTS5's porter), and diacritics folded away (unaccent is a trusted
        # extension: the database owner may create it without being a superuser).
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        "CREATE TEXT SEARCH DICTIONARY disinfodb_english (TEMPLATE = snowball, LANGUAGE = english)",
        "CREATE TEXT SEARCH CONFIGURATION disinfodb (COPY = simple)",
        "ALTER TEXT SEARCH CONFIGURATION disinfodb ALTER MAPPING FOR asciiword, asciihword, hword_asciipart"
        " WITH disinfodb_english",
        "ALTER TEXT SEARCH CONFIGURATION disinfodb ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple",
        """CREATE TABLE cases (
            pk          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id          TEXT NOT NULL UNIQUE,
            url         TEXT UNIQUE,
            content_id  TEXT NOT NULL,
            title       TEXT NOT NULL,
            summary     TEXT NOT NULL,
            disproof    TEXT NOT NULL,
            tags        TEXT NOT NULL,
            published   TEXT,
            issue       INTEGER,
            doc         TEXT NOT NULL,
            version     INTEGER NOT NULL CHECK (version >= 1),
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            fts         TSVECTOR GENERATED ALWAYS AS (
                setweight(to_tsvector('disinfodb', title), 'A') ||
                setweight(to_tsvector('disinfodb', summary), 'B') ||
                setweight(to_tsvector('disinfodb', tags), 'C') ||
                setweight(to_tsvector('disinfodb', disproof), 'D')) STORED
        )""",
        "CREATE INDEX cases_content_id ON cases (content_id)",
        "CREATE INDEX cases_published ON cases (published, pk)",
        "CREATE INDEX cases_fts ON cases USING GIN (fts)",
        """CREATE TABLE terms (
            id     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            facet  TEXT NOT NULL,
            key    TEXT NOT NULL,
            label  TEXT NOT NULL,
            UNIQUE (facet, key)
        )""",
        """CREATE TABLE case_terms (
            case_pk  BIGINT NOT NULL REFERENCES cases (pk) ON DELETE CASCADE,
            term_id  BIGINT NOT NULL REFERENCES terms (id),
            PRIMARY KEY (case_pk, term_id)
        )""",
        "CREATE INDEX case_terms_by_term ON case_terms (term_id, case_pk)",
        """CREATE TABLE audit (
            seq       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            case_id   TEXT NOT NULL,
            action    TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
            version   INTEGER NOT NULL,
            actor     TEXT NOT NULL,
            at        TEXT NOT NULL,
            previous  TEXT
        )""",
        "CREATE INDEX audit_by_case ON audit (case_id, seq)",
        # SQLite's PRAGMA data_version: a counter any committed change to cases moves, so
        # every connection knows when its in-memory term index is stale.
        "CREATE TABLE change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL)",
        "INSERT INTO change_counter VALUES (1, 0)",
        # Once per transaction: updating one row at every statement of a 10,000-case import
        # makes each update walk the row's ever longer version chain (quadratic).
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
    ),
    (
        """CREATE TABLE embeddings (
            case_pk    BIGINT NOT NULL REFERENCES cases (pk) ON DELETE CASCADE,
            model      TEXT NOT NULL,
            text_hash  TEXT NOT NULL,
            units      TEXT NOT NULL,
            vectors    BYTEA NOT NULL,
            PRIMARY KEY (case_pk, model)
        )""",
    ),
    (
        """CREATE TABLE users (
            name           TEXT PRIMARY KEY,
            role           TEXT NOT NULL CHECK (role IN ('reader', 'editor', 'admin')),
            password_hash  TEXT,
            created_at     TEXT NOT NULL
        )""",
        """CREATE TABLE tokens (
            hash          TEXT PRIMARY KEY,
            user_name     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            label         TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            last_used_at  TEXT
        )""",
        """CREATE TABLE sessions (
            hash        TEXT PRIMARY KEY,
            user_name   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            expires_at  TEXT NOT NULL
        )""",
    ),
    (
        """CREATE TABLE narratives (
            id              TEXT PRIMARY KEY,
            label           TEXT NOT NULL,
            name            TEXT,
            terms           TEXT NOT NULL,
            keywords        TEXT NOT NULL,
            representative  TEXT,
            size            INTEGER NOT NULL,
            first_seen      TEXT,
            last_seen       TEXT,
            pinned          INTEGER NOT NULL DEFAULT 0,
            merged_into     TEXT REFERENCES narratives (id) DEFERRABLE,
            retired         INTEGER NOT NULL DEFAULT 0,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        )""",
        """CREATE TABLE case_narratives (
            case_pk       BIGINT PRIMARY KEY REFERENCES cases (pk) ON DELETE CASCADE,
            narrative_id  TEXT NOT NULL REFERENCES narratives (id)
        )""",
        "CREATE INDEX case_narratives_by_narrative ON case_narratives (narrative_id)",
    ),
)

#: Every table, parents before children: the order a copy between databases writes them.
TABLES: tuple[str, ...] = ("cases", "terms", "case_terms", "audit", "embeddings", "users", "tokens", "sessions",
                           "narratives", "case_narratives")

#: Each table's columns on both engines (PostgreSQL's generated `fts` is not copied).
COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": ("pk", "id", "url", "content_id", "title", "summary", "disproof", "tags", "published", "issue",
              "doc", "version", "created_at", "updated_at"),
    "terms": ("id", "facet", "key", "label"),
    "case_terms": ("case_pk", "term_id"),
    "audit": ("seq", "case_id", "action", "version", "actor", "at", "previous"),
    "embeddings": ("case_pk", "model", "text_hash", "units", "vectors"),
    "users": ("name", "role", "password_hash", "created_at"),
    "tokens": ("hash", "user_name", "label", "created_at", "last_used_at"),
    "sessions": ("hash", "user_name", "expires_at"),
    "narratives": ("id", "label", "name", "terms", "keywords", "representative", "size", "first_seen",
                   "last_seen", "pinned", "merged_into", "retired", "created_at", "updated_at"),
    "case_narratives": ("case_pk", "narrative_id"),
}

#: Each table's primary key: the order a copy reads it in.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "cases": ("pk",), "terms": ("id",), "case_terms": ("case_pk", "term_id"), "audit": ("seq",),
    "embeddings": ("case_pk", "model"), "users": ("name",), "tokens": ("hash",), "sessions": ("hash",),
    "narratives": ("id",), "case_narratives": ("case_pk",),
}
