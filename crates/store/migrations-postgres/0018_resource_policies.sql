-- Resource-based policies (S3 bucket policies), by the resource's ARN (PostgreSQL).
CREATE TABLE resource_policies (
    arn        TEXT PRIMARY KEY,
    document   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
