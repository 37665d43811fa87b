-- Pipelines (trainyard.yaml as applied), their runs, and retraining requests waiting out their minimum interval (PostgreSQL).

CREATE TABLE pipelines (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    applied_at BIGINT NOT NULL
);

CREATE TABLE pipeline_runs (
    id         TEXT PRIMARY KEY,
    pipeline   TEXT NOT NULL,
    trigger    TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    steps      TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, created_at);

CREATE TABLE pipeline_retraining (
    pipeline   TEXT PRIMARY KEY,
    first_at   BIGINT NOT NULL,
    objects    BIGINT NOT NULL
);
