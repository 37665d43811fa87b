-- Builds of followed commits (PostgreSQL): one per announced push (push_id is unique).

CREATE TABLE builds (
    id           TEXT PRIMARY KEY,
    push_id      BIGINT UNIQUE,
    source       TEXT NOT NULL,
    branch       TEXT NOT NULL,
    commit_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    repository   TEXT,
    image_digest TEXT,
    tags         TEXT NOT NULL DEFAULT '[]',
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT
);
CREATE INDEX builds_by_source ON builds (source, started_at);
CREATE INDEX builds_by_status ON builds (status);
