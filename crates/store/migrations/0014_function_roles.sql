-- The role a function runs as (its credentials come from a session of it, per invocation).
ALTER TABLE functions ADD COLUMN role TEXT;
