-- The role a function runs as (PostgreSQL): its credentials come from a session of it, per invocation.
ALTER TABLE functions ADD COLUMN role TEXT;
