-- Builds of followed commits (the CodeBuild of the platform): one per announced push.

CREATE TABLE builds (
    id           TEXT PRIMARY KEY,
    push_id      INTEGER UNIQUE,
    source       TEXT NOT NULL,
    branch       TEXT NOT NULL,
    commit_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    repository   TEXT,
    image_digest TEXT,
    tags         TEXT NOT NULL DEFAULT '[]',
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX builds_by_source ON builds (source, started_at);
CREATE INDEX builds_by_status ON builds (status);
