-- Followed git branches, their pushes (an outbox) and the GitHub webhook deliveries already acted on (PostgreSQL).
-- emitted stays BIGINT 0/1: the Rust code only writes and compares the literals 0 and 1.

CREATE TABLE sources (
    name           TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    branch         TEXT NOT NULL,
    poll_seconds   BIGINT,              -- NULL: webhook only
    webhook_secret TEXT,
    head           TEXT,                -- the last commit announced
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE source_pushes (
    source     TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    after      TEXT NOT NULL,
    before     TEXT,
    detail     TEXT NOT NULL,           -- the Git Push event's detail, JSON
    emitted    BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (source, after)
);

CREATE TABLE webhook_deliveries (
    delivery    TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
