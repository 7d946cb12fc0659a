//! Stages (per project, e.g. `dev`, `prod`) and publications: which
//! version of which flow is live on a stage.
//!
//! Every publish and unpublish appends a row to `weft_publications`; the
//! newest row of a (stage, flow) says what is live (nothing, after an
//! unpublish). The rows are the history; rolling back is publishing an
//! older version again. A stage is created by its first publish, or
//! explicitly with [`Store::create_stage`]. Stage names are lowercase
//! letters and digits ([`super::validate_stage`]).

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use super::error::{db, is_unique_violation};
use super::flows::{VersionSummary, find_version, flow_pk, summary};
use super::routes::routes_changed;
use super::{Result, Store, StoreError, now_ms, parse_json, project_id, validate_stage};

/// A stage of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub name: String,
    pub created_at: i64,
}

/// A flow live on a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveFlow {
    pub flow: String,
    pub version: VersionSummary,
    pub published_at: i64,
}

/// What [`Store::publish_checked`] shows its check.
#[derive(Debug, Clone, Copy)]
pub struct PublishCheck<'a> {
    pub flow: &'a str,
    pub stage: &'a str,
    /// The document of the version being published.
    pub document: &'a Value,
    /// Every other flow live on the stage, with its live document.
    pub live: &'a [(String, Value)],
}

/// One entry of a publication history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publication {
    /// The version published, or `None` for an unpublish.
    pub version: Option<VersionSummary>,
    pub published_at: i64,
}

async fn stage_pk<'e, E>(executor: E, project_id: i64, stage: &str) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_scalar("SELECT id FROM weft_stages WHERE project_id = $1 AND name = $2")
        .bind(project_id)
        .bind(stage)
        .fetch_optional(executor)
        .await
        .map_err(db(format!("looking up stage `{stage}`")))?
        .ok_or_else(|| StoreError::not_found(format!("stage `{stage}`")))
}

fn live_flow(row: &AnyRow) -> Result<LiveFlow> {
    Ok(LiveFlow {
        flow: row.try_get("flow").map_err(db("reading a publication"))?,
        published_at: row
            .try_get("published_at")
            .map_err(db("reading a publication"))?,
        version: summary(row)?,
    })
}

/// The newest publication of each flow of stage `$1` that has a version,
/// plus `$tail`.
macro_rules! live_sql {
    ($tail:literal $(,)?) => {
        concat!(
            "SELECT f.name AS flow, v.version_id, v.number, v.hash, v.created_at, \
             p.published_at \
             FROM weft_publications p \
             JOIN weft_flows f ON f.id = p.flow_id \
             JOIN weft_flow_versions v ON v.id = p.version_pk \
             WHERE p.stage_id = $1 AND p.id = (SELECT MAX(p2.id) FROM weft_publications p2 \
             WHERE p2.stage_id = p.stage_id AND p2.flow_id = p.flow_id)",
            $tail
        )
    };
}

impl Store {
    /// Creates stage `stage` of `project` ([`StoreError::Conflict`] if it
    /// exists).
    pub async fn create_stage(&self, project: &str, stage: &str) -> Result<Stage> {
        validate_stage(stage)?;
        let pid = project_id(&self.pool, project).await?;
        let now = now_ms();
        let _turn = self.write_turn().await;
        sqlx::query("INSERT INTO weft_stages (project_id, name, created_at) VALUES ($1, $2, $3)")
            .bind(pid)
            .bind(stage)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::conflict(format!("stage `{stage}` already exists"))
                } else {
                    db(format!("creating stage `{stage}`"))(e)
                }
            })?;
        Ok(Stage {
            name: stage.to_string(),
            created_at: now,
        })
    }

    /// The stages of `project`, by name.
    pub async fn list_stages(&self, project: &str) -> Result<Vec<Stage>> {
        let pid = project_id(&self.pool, project).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT name, created_at FROM weft_stages WHERE project_id = $1 ORDER BY name",
        )
        .bind(pid)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("listing the stages of `{project}`")))?;
        Ok(rows
            .into_iter()
            .map(|(name, created_at)| Stage { name, created_at })
            .collect())
    }

    /// Makes version `version` (number, id or `"latest"`) of `flow` the
    /// live one on `stage` (created if needed), recording it in the
    /// history.
    pub async fn publish(
        &self,
        project: &str,
        stage: &str,
        flow: &str,
        version: &str,
    ) -> Result<LiveFlow> {
        self.publish_checked(project, stage, flow, version, |_| Ok(()))
            .await
    }

    /// [`Store::publish`], once `check` accepts the version's document
    /// beside the documents of the other flows live on the stage (an error
    /// from it, such as [`StoreError::Conflict`], cancels the publish).
    /// Publishes to one stage are serialized, so two conflicting flows
    /// cannot both pass.
    pub async fn publish_checked(
        &self,
        project: &str,
        stage: &str,
        flow: &str,
        version: &str,
        check: impl FnOnce(PublishCheck<'_>) -> Result<()>,
    ) -> Result<LiveFlow> {
        validate_stage(stage)?;
        let context = format!("publishing flow `{flow}` to stage `{stage}`");
        let mut tx = self.begin(&context).await?;
        let pid = project_id(&mut *tx, project).await?;
        let fid = flow_pk(&mut *tx, pid, flow).await?;
        let row = find_version(&mut *tx, fid, flow, version).await?;
        let version_pk: i64 = row.try_get("pk").map_err(db(&context))?;
        let version = summary(&row)?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO weft_stages (project_id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, name) DO NOTHING",
        )
        .bind(pid)
        .bind(stage)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?;
        let sid = stage_pk(&mut *tx, pid, stage).await?;
        if self.backend() == super::Backend::Postgres {
            // One publish per stage at a time (SQLite's write transaction
            // already is the only one).
            sqlx::query("SELECT id FROM weft_stages WHERE id = $1 FOR UPDATE")
                .bind(sid)
                .execute(&mut *tx)
                .await
                .map_err(db(&context))?;
        }
        let document: String = row.try_get("document").map_err(db(&context))?;
        let document = parse_json(&context, &document)?;
        let rows = sqlx::query(
            "SELECT f.name AS flow, v.document FROM weft_publications p \
             JOIN weft_flows f ON f.id = p.flow_id \
             JOIN weft_flow_versions v ON v.id = p.version_pk \
             WHERE p.stage_id = $1 AND p.flow_id <> $2 AND p.id = (SELECT MAX(p2.id) \
             FROM weft_publications p2 WHERE p2.stage_id = p.stage_id AND p2.flow_id = p.flow_id)",
        )
        .bind(sid)
        .bind(fid)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(&context))?;
        let mut live = Vec::with_capacity(rows.len());
        for r in &rows {
            let name: String = r.try_get("flow").map_err(db(&context))?;
            let text: String = r.try_get("document").map_err(db(&context))?;
            live.push((name, parse_json(&context, &text)?));
        }
        check(PublishCheck {
            flow,
            stage,
            document: &document,
            live: &live,
        })?;
        sqlx::query(
            "INSERT INTO weft_publications (stage_id, flow_id, version_pk, published_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(sid)
        .bind(fid)
        .bind(version_pk)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?;
        routes_changed(&mut tx, self.backend(), sid, project, stage, &context).await?;
        tx.commit().await.map_err(db(&context))?;
        Ok(LiveFlow {
            flow: flow.to_string(),
            version,
            published_at: now,
        })
    }

    /// Takes `flow` off `stage`. Returns whether it was live (nothing is
    /// recorded when it was not).
    pub async fn unpublish(&self, project: &str, stage: &str, flow: &str) -> Result<bool> {
        let context = format!("unpublishing flow `{flow}` from stage `{stage}`");
        let mut tx = self.begin(&context).await?;
        let pid = project_id(&mut *tx, project).await?;
        let fid = flow_pk(&mut *tx, pid, flow).await?;
        let sid = stage_pk(&mut *tx, pid, stage).await?;
        let live: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT version_pk FROM weft_publications WHERE stage_id = $1 AND flow_id = $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(sid)
        .bind(fid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(&context))?;
        if !matches!(live, Some(Some(_))) {
            tx.rollback().await.map_err(db(&context))?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO weft_publications (stage_id, flow_id, version_pk, published_at) \
             VALUES ($1, $2, NULL, $3)",
        )
        .bind(sid)
        .bind(fid)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?;
        routes_changed(&mut tx, self.backend(), sid, project, stage, &context).await?;
        tx.commit().await.map_err(db(&context))?;
        Ok(true)
    }

    /// What is live on `stage`, by flow name.
    pub async fn live(&self, project: &str, stage: &str) -> Result<Vec<LiveFlow>> {
        let pid = project_id(&self.pool, project).await?;
        let sid = stage_pk(&self.pool, pid, stage).await?;
        let rows = sqlx::query(live_sql!(" ORDER BY f.name"))
            .bind(sid)
            .fetch_all(&self.pool)
            .await
            .map_err(db(format!("reading what is live on stage `{stage}`")))?;
        rows.iter().map(live_flow).collect()
    }

    /// The version of `flow` live on `stage`, if any (NotFound when the
    /// project, stage or flow does not exist).
    pub async fn live_version(
        &self,
        project: &str,
        stage: &str,
        flow: &str,
    ) -> Result<Option<LiveFlow>> {
        let pid = project_id(&self.pool, project).await?;
        let sid = stage_pk(&self.pool, pid, stage).await?;
        let fid = flow_pk(&self.pool, pid, flow).await?;
        let row = sqlx::query(live_sql!(" AND p.flow_id = $2"))
            .bind(sid)
            .bind(fid)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("reading flow `{flow}` on stage `{stage}`")))?;
        row.as_ref().map(live_flow).transpose()
    }

    /// Every publish and unpublish of `flow` on `stage`, newest first.
    pub async fn publication_history(
        &self,
        project: &str,
        stage: &str,
        flow: &str,
    ) -> Result<Vec<Publication>> {
        let context = format!("reading the history of flow `{flow}` on stage `{stage}`");
        let pid = project_id(&self.pool, project).await?;
        let sid = stage_pk(&self.pool, pid, stage).await?;
        let fid = flow_pk(&self.pool, pid, flow).await?;
        let rows = sqlx::query(
            "SELECT v.version_id, v.number, v.hash, v.created_at, p.published_at \
             FROM weft_publications p LEFT JOIN weft_flow_versions v ON v.id = p.version_pk \
             WHERE p.stage_id = $1 AND p.flow_id = $2 ORDER BY p.id DESC",
        )
        .bind(sid)
        .bind(fid)
        .fetch_all(&self.pool)
        .await
        .map_err(db(&context))?;
        rows.iter()
            .map(|row| {
                let id: Option<String> = row.try_get("version_id").map_err(db(&context))?;
                Ok(Publication {
                    version: match id {
                        Some(_) => Some(summary(row)?),
                        None => None,
                    },
                    published_at: row.try_get("published_at").map_err(db(&context))?,
                })
            })
            .collect()
    }
}
