-- Inference endpoints (PostgreSQL): the live configuration, the rollback target, the deployment in progress, the last outcome.

CREATE TABLE endpoints (
    name            TEXT PRIMARY KEY,
    arn             TEXT NOT NULL,
    status          TEXT NOT NULL,
    config          TEXT,          -- the live EndpointConfig, JSON; NULL until the first one is live
    previous_config TEXT,
    pending         TEXT,          -- the deployment in progress, JSON
    last_deployment TEXT,          -- the last deployment's outcome, JSON
    failure_reason  TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
