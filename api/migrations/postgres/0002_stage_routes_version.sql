-- Bumped by every publish and unpublish on the stage: routers compare it
-- with the version of the route table they hold to know when to reload.
ALTER TABLE weft_stages ADD COLUMN routes_version BIGINT NOT NULL DEFAULT 0;
