-- Pipelines (trainyard.yaml as applied), their runs (one trip through the loop, its steps
-- as JSON), and retraining requests waiting out their minimum interval.

CREATE TABLE pipelines (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE pipeline_runs (
    id         TEXT PRIMARY KEY,
    pipeline   TEXT NOT NULL,
    trigger    TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    steps      TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, created_at);

CREATE TABLE pipeline_retraining (
    pipeline   TEXT PRIMARY KEY,
    first_at   INTEGER NOT NULL,
    objects    INTEGER NOT NULL
);
