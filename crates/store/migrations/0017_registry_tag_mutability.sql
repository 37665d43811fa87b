-- ECR's image tag mutability: a repository whose tags are immutable refuses to move a tag
-- to another image (checked in the transaction that would move it).
ALTER TABLE registry_repositories ADD COLUMN immutable_tags INTEGER NOT NULL DEFAULT 0;
