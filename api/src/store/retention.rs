//! Run-history retention, per flow: keep the newest `max_runs` runs and/or
//! the runs younger than `max_age`. Each limit that is set deletes what it
//! excludes (a run survives only if it passes every limit set); runs still
//! `running` are never deleted. Deleting a run deletes its events and node
//! records in the same transaction.

use std::time::Duration;

use super::error::db;
use super::{Result, Store, now_ms, project_id};

/// How much run history to keep per flow (`None`: no limit of that kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep at most this many runs per flow (the newest).
    pub max_runs: Option<u32>,
    /// Delete runs started longer ago than this.
    pub max_age: Option<Duration>,
}

impl RetentionPolicy {
    /// True when the policy keeps everything.
    pub fn is_unlimited(&self) -> bool {
        self.max_runs.is_none() && self.max_age.is_none()
    }
}

/// The runs of flow `$2` of project `$1` that the policy deletes: older
/// than run number `$3` included, or started before `$4` (either bound
/// may be NULL).
macro_rules! doomed {
    () => {
        "SELECT id FROM weft_runs WHERE project_id = $1 AND flow = $2 \
         AND status <> 'running' AND (n <= $3 OR started_at < $4)"
    };
}

impl Store {
    /// Applies `policy` to the runs of `flow` in `project`; returns how
    /// many runs were deleted.
    pub async fn prune(&self, project: &str, flow: &str, policy: &RetentionPolicy) -> Result<u64> {
        if policy.is_unlimited() {
            return Ok(0);
        }
        let context = format!("pruning the runs of flow `{flow}`");
        let mut tx = self.begin(&context).await?;
        let pid = project_id(&mut *tx, project).await?;
        // The newest run that falls outside the count limit, if any.
        let cutoff: Option<i64> = match policy.max_runs {
            Some(max) => sqlx::query_scalar(
                "SELECT n FROM weft_runs WHERE project_id = $1 AND flow = $2 \
                 ORDER BY n DESC LIMIT 1 OFFSET $3",
            )
            .bind(pid)
            .bind(flow)
            .bind(i64::from(max))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(&context))?,
            None => None,
        };
        let before: Option<i64> = policy
            .max_age
            .map(|age| now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
        if cutoff.is_none() && before.is_none() {
            tx.rollback().await.map_err(db(&context))?;
            return Ok(0);
        }
        for statement in [
            concat!(
                "DELETE FROM weft_run_events WHERE run_id IN (",
                doomed!(),
                ")"
            ),
            concat!(
                "DELETE FROM weft_run_nodes WHERE run_id IN (",
                doomed!(),
                ")"
            ),
        ] {
            sqlx::query(statement)
                .bind(pid)
                .bind(flow)
                .bind(cutoff)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db(&context))?;
        }
        let deleted = sqlx::query(concat!(
            "DELETE FROM weft_runs WHERE id IN (",
            doomed!(),
            ")"
        ))
        .bind(pid)
        .bind(flow)
        .bind(cutoff)
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?
        .rows_affected();
        tx.commit().await.map_err(db(&context))?;
        Ok(deleted)
    }

    /// [`Store::prune`] for every flow of every project that has runs;
    /// returns the total deleted.
    pub async fn prune_all(&self, policy: &RetentionPolicy) -> Result<u64> {
        if policy.is_unlimited() {
            return Ok(0);
        }
        let flows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT p.slug, r.flow FROM weft_runs r \
             JOIN weft_projects p ON p.id = r.project_id ORDER BY p.slug, r.flow",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing the flows with runs"))?;
        let mut total = 0;
        for (project, flow) in flows {
            total += self.prune(&project, &flow, policy).await?;
        }
        Ok(total)
    }
}
