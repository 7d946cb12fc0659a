-- The process running each run (store/instances.rs): a process that finds
-- a run `running` whose process is gone fails it as `interrupted`. NULL
-- for runs from before instances.
ALTER TABLE weft_runs ADD COLUMN instance BIGINT;
