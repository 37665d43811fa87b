-- Inference endpoints: the committed configuration, the one before it (the rollback
-- target), the deployment in progress, and the last deployment's outcome.

CREATE TABLE endpoints (
    name            TEXT PRIMARY KEY,
    arn             TEXT NOT NULL,
    status          TEXT NOT NULL,
    config          TEXT,          -- the live EndpointConfig, JSON; NULL until the first one is live
    previous_config TEXT,
    pending         TEXT,          -- the deployment in progress, JSON
    last_deployment TEXT,          -- the last deployment's outcome, JSON
    failure_reason  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
