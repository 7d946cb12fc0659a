-- Weft server state, SQLite flavour (keep in step with ../postgres/0001_init.sql).
-- Every table is prefixed `weft_` but none `weft_vec`: the vector store's
-- `weft_vector_collections` and `weft_vec_<id>` live in the same file.
-- Timestamps are milliseconds since the Unix epoch; JSON is TEXT.

CREATE TABLE weft_projects (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE weft_flows (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES weft_projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    latest_number BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE weft_flow_versions (
    id INTEGER PRIMARY KEY,
    flow_id BIGINT NOT NULL REFERENCES weft_flows (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    version_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (flow_id, number),
    UNIQUE (flow_id, version_id)
);

CREATE TABLE weft_stages (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES weft_projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- One row per publish or unpublish (version_pk NULL); the newest row of a
-- (stage, flow) says what is live.
CREATE TABLE weft_publications (
    id INTEGER PRIMARY KEY,
    stage_id BIGINT NOT NULL REFERENCES weft_stages (id) ON DELETE CASCADE,
    flow_id BIGINT NOT NULL REFERENCES weft_flows (id) ON DELETE CASCADE,
    version_pk BIGINT REFERENCES weft_flow_versions (id) ON DELETE CASCADE,
    published_at BIGINT NOT NULL
);
CREATE INDEX weft_publications_by_stage_flow ON weft_publications (stage_id, flow_id, id);

CREATE TABLE weft_runs (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id BIGINT NOT NULL REFERENCES weft_projects (id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    version_id TEXT,
    version_number BIGINT,
    document TEXT,
    stage TEXT,
    run_trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    duration_ms DOUBLE PRECISION
);
CREATE INDEX weft_runs_by_project ON weft_runs (project_id, n);
CREATE INDEX weft_runs_by_flow ON weft_runs (project_id, flow, n);
CREATE INDEX weft_runs_by_status ON weft_runs (status);

CREATE TABLE weft_run_nodes (
    run_id TEXT NOT NULL REFERENCES weft_runs (id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    started_at BIGINT,
    duration_ms DOUBLE PRECISION,
    inputs TEXT,
    outputs TEXT,
    error TEXT,
    PRIMARY KEY (run_id, node)
);

CREATE TABLE weft_run_events (
    run_id TEXT NOT NULL REFERENCES weft_runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- stage '' = every stage of the project.
CREATE TABLE weft_secrets (
    project_id BIGINT NOT NULL REFERENCES weft_projects (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, stage, name)
);

CREATE TABLE weft_api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
