-- SageMaker's definitions that name what an endpoint serves: models (a container image and
-- an artifact) and endpoint configurations (weighted variants of models), kept as the
-- request that made them. And the tags of any SageMaker resource, by ARN.
CREATE TABLE sagemaker_definitions (
    kind       TEXT NOT NULL,     -- 'model' | 'endpoint-config'
    name       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    spec       TEXT NOT NULL,     -- the Create request, JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE resource_tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
