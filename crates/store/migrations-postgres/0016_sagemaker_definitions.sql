-- SageMaker definitions (models, endpoint configurations) kept as their Create request, and resource tags by ARN (PostgreSQL).
CREATE TABLE sagemaker_definitions (
    kind       TEXT NOT NULL,     -- 'model' | 'endpoint-config'
    name       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    spec       TEXT NOT NULL,     -- the Create request, JSON
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE resource_tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
