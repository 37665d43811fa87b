-- ECR's image tag mutability (PostgreSQL): BOOLEAN, since set_immutable_tags binds a Rust bool (its readers must decode bool).
ALTER TABLE registry_repositories ADD COLUMN immutable_tags BOOLEAN NOT NULL DEFAULT FALSE;
