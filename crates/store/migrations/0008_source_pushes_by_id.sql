-- A branch may move back to a commit it held before (a force push): pushes are keyed by an
-- id, not by their `after` commit.

CREATE TABLE source_pushes_by_id (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source     TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    after      TEXT NOT NULL,
    before     TEXT,
    detail     TEXT NOT NULL,
    emitted    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
INSERT INTO source_pushes_by_id (source, after, before, detail, emitted, created_at)
    SELECT source, after, before, detail, emitted, created_at FROM source_pushes ORDER BY created_at, rowid;
DROP TABLE source_pushes;
ALTER TABLE source_pushes_by_id RENAME TO source_pushes;
CREATE INDEX source_pushes_unannounced ON source_pushes (emitted, id);
