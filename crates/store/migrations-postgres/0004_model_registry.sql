-- The model registry (PostgreSQL): package groups, immutable auto-numbered versions, aliases.

CREATE TABLE model_package_groups (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL DEFAULT '',
    approval_mode TEXT NOT NULL CHECK (approval_mode IN ('auto', 'manual')),
    created_at    BIGINT NOT NULL,
    -- The number the next registered version gets; bumped in the registering transaction
    -- (UPDATE ... RETURNING, which row-locks the group until commit).
    next_version  BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE model_packages (
    group_name           TEXT NOT NULL REFERENCES model_package_groups(name),
    version              BIGINT NOT NULL,
    status               TEXT NOT NULL
                         CHECK (status IN ('PendingManualApproval', 'Approved', 'Rejected')),
    model_data_url       TEXT NOT NULL,
    -- JSON: InferenceSpecification, ModelMetrics, gate decision, MetadataProperties (lineage),
    -- CustomerMetadataProperties. Written once, never updated.
    document             TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    approval_description TEXT NOT NULL DEFAULT '',
    status_changed_by    TEXT,
    status_changed_at    BIGINT,
    PRIMARY KEY (group_name, version)
);

CREATE TABLE model_aliases (
    group_name TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (group_name, alias),
    FOREIGN KEY (group_name, version) REFERENCES model_packages(group_name, version)
);
