"""The SQLite schema, as an ordered list of migrations keyed by PRAGMA user_version.

A database records how many migrations it has had; opening it applies the rest, each in
its own transaction, so an old file upgrades itself and a new file is built the same way.
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
