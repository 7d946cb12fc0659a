-- Keys for calling a project's published flows (routes with
-- `auth: api_key`), scoped to stages. Only the SHA-256 of a key is kept.
CREATE TABLE weft_api_keys (
    id TEXT PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES weft_projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    -- A JSON list of stage names, or NULL for every stage.
    stages TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX weft_api_keys_by_project ON weft_api_keys (project_id, created_at);
