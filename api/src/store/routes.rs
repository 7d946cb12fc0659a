//! The SQL route store: the routes live on a stage, derived from its
//! publications, for routers ([`weft_router::RouteStore`]).
//!
//! Every publish and unpublish bumps the stage's `routes_version` in the
//! same transaction ([`routes_changed`]) and, on PostgreSQL, announces it
//! on the [`ROUTES_CHANNEL`] channel with the payload
//! `project/stage/version`, delivered when the transaction commits. A
//! router LISTENs there, and compares the versions of the stages it holds
//! ([`Store::stage_versions`]) where it cannot listen (SQLite) or may have
//! missed a notification.

use serde_json::Value;
use sqlx::Row;
use weft_editor_protocol::flow::FlowDocument;
use weft_router::{RouteRecord, RouteStore, RouteStoreError, StageKey, StageRoutes, StoreFuture};

use super::error::db;
use super::{Backend, Result, Store, StoreError, parse_json, project_id};

/// The PostgreSQL `LISTEN` channel on which route changes are announced
/// (payload `project/stage/version`).
pub const ROUTES_CHANNEL: &str = "weft_routes";

/// The documents live on a stage and the stage's routes version, read
/// together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageDocuments {
    pub version: i64,
    /// By flow name.
    pub flows: Vec<LiveDocument>,
}

/// A flow live on a stage, with its document.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveDocument {
    pub flow: String,
    /// The version's id.
    pub version: String,
    pub document: Value,
}

/// A change announced on [`ROUTES_CHANNEL`]: `project/stage/version`.
pub fn parse_notification(payload: &str) -> Option<(&str, &str, i64)> {
    let mut parts = payload.splitn(3, '/');
    let (project, stage, version) = (parts.next()?, parts.next()?, parts.next()?);
    Some((project, stage, version.parse().ok()?))
}

/// Bumps the stage's routes version (and, on PostgreSQL, announces the
/// change, delivered when the transaction commits). Returns the new
/// version.
pub(super) async fn routes_changed(
    tx: &mut super::WriteTx,
    backend: Backend,
    sid: i64,
    project: &str,
    stage: &str,
    context: &str,
) -> Result<i64> {
    let version: i64 = sqlx::query_scalar(
        "UPDATE weft_stages SET routes_version = routes_version + 1 WHERE id = $1 \
         RETURNING routes_version",
    )
    .bind(sid)
    .fetch_one(&mut **tx)
    .await
    .map_err(db(context))?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 AS sent FROM (SELECT pg_notify($1, $2)) AS n")
            .bind(ROUTES_CHANNEL)
            .bind(format!("{project}/{stage}/{version}"))
            .execute(&mut **tx)
            .await
            .map_err(db(context))?;
    }
    Ok(version)
}

/// Stages per version query: the statement binds two values per stage.
const VERSIONS_BATCH: usize = 200;

impl Store {
    /// The documents live on `stage`, with the stage's routes version,
    /// read in one statement so they agree.
    pub async fn stage_documents(&self, project: &str, stage: &str) -> Result<StageDocuments> {
        let context = format!("reading the routes of stage `{stage}` of `{project}`");
        let pid = project_id(&self.pool, project).await?;
        let rows = sqlx::query(
            "SELECT s.routes_version, f.name AS flow, v.version_id, v.document \
             FROM weft_stages s \
             LEFT JOIN weft_publications p ON p.stage_id = s.id AND p.id = (SELECT MAX(p2.id) \
             FROM weft_publications p2 WHERE p2.stage_id = p.stage_id AND p2.flow_id = p.flow_id) \
             LEFT JOIN weft_flows f ON f.id = p.flow_id \
             LEFT JOIN weft_flow_versions v ON v.id = p.version_pk \
             WHERE s.project_id = $1 AND s.name = $2 ORDER BY f.name",
        )
        .bind(pid)
        .bind(stage)
        .fetch_all(&self.pool)
        .await
        .map_err(db(&context))?;
        if rows.is_empty() {
            return Err(StoreError::not_found(format!("stage `{stage}`")));
        }
        let mut out = StageDocuments::default();
        for row in &rows {
            out.version = row.try_get("routes_version").map_err(db(&context))?;
            let flow: Option<String> = row.try_get("flow").map_err(db(&context))?;
            let version: Option<String> = row.try_get("version_id").map_err(db(&context))?;
            let document: Option<String> = row.try_get("document").map_err(db(&context))?;
            if let (Some(flow), Some(version), Some(document)) = (flow, version, document) {
                out.flows.push(LiveDocument {
                    flow,
                    version,
                    document: parse_json(&context, &document)?,
                });
            }
        }
        Ok(out)
    }

    /// The routes version of `stage` alone (cheap: whether a router's
    /// table is current).
    pub async fn routes_version(&self, project: &str, stage: &str) -> Result<i64> {
        let pid = project_id(&self.pool, project).await?;
        sqlx::query_scalar(
            "SELECT routes_version FROM weft_stages WHERE project_id = $1 AND name = $2",
        )
        .bind(pid)
        .bind(stage)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading the routes version of stage `{stage}`")))?
        .ok_or_else(|| StoreError::not_found(format!("stage `{stage}`")))
    }

    /// A connection LISTENing on [`ROUTES_CHANNEL`], outside the pool;
    /// `None` on SQLite, which cannot notify.
    pub async fn route_listener(&self) -> Result<Option<sqlx::postgres::PgListener>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let context = "listening for route changes";
        let mut listener = sqlx::postgres::PgListener::connect(&self.probe.0)
            .await
            .map_err(db(context))?;
        listener.listen(ROUTES_CHANNEL).await.map_err(db(context))?;
        Ok(Some(listener))
    }

    /// Every stage of every project with its routes version (what a
    /// mirror route store is reconciled against).
    pub async fn all_stage_versions(&self) -> Result<Vec<(StageKey, i64)>> {
        let context = "listing stages";
        let rows = sqlx::query(
            "SELECT p.slug, s.name, s.routes_version FROM weft_stages s \
             JOIN weft_projects p ON p.id = s.project_id ORDER BY p.slug, s.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db(context))?;
        rows.iter()
            .map(|row| {
                Ok((
                    (
                        row.try_get("slug").map_err(db(context))?,
                        row.try_get("name").map_err(db(context))?,
                    ),
                    row.try_get("routes_version").map_err(db(context))?,
                ))
            })
            .collect()
    }

    /// The routes versions of many stages, in order (`None` for a stage
    /// that does not exist), in one statement per 200 stages.
    pub async fn stage_versions(&self, stages: &[StageKey]) -> Result<Vec<Option<i64>>> {
        let mut out = Vec::with_capacity(stages.len());
        for batch in stages.chunks(VERSIONS_BATCH) {
            let mut sql = String::from(
                "SELECT p.slug, s.name, s.routes_version FROM weft_stages s \
                 JOIN weft_projects p ON p.id = s.project_id WHERE ",
            );
            for i in 0..batch.len() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                sql.push_str(&format!(
                    "(p.slug = ${} AND s.name = ${})",
                    2 * i + 1,
                    2 * i + 2
                ));
            }
            // Only placeholders are spliced in; the values are bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (project, stage) in batch {
                query = query.bind(project).bind(stage);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading routes versions"))?;
            let mut found = std::collections::HashMap::with_capacity(rows.len());
            for row in &rows {
                let key: StageKey = (
                    row.try_get("slug").map_err(db("reading routes versions"))?,
                    row.try_get("name").map_err(db("reading routes versions"))?,
                );
                let version: i64 = row
                    .try_get("routes_version")
                    .map_err(db("reading routes versions"))?;
                found.insert(key, version);
            }
            out.extend(batch.iter().map(|k| found.get(k).copied()));
        }
        Ok(out)
    }
}

fn unavailable(e: StoreError) -> RouteStoreError {
    RouteStoreError::Unavailable {
        store: "sql",
        message: e.to_string(),
    }
}

/// Routes are derived from the publications: a stage's records are the
/// HTTP triggers of the documents live on it.
impl RouteStore for Store {
    fn kind(&self) -> &'static str {
        "sql"
    }

    fn load<'a>(
        &'a self,
        project: &'a str,
        stage: &'a str,
    ) -> StoreFuture<'a, Option<StageRoutes>> {
        Box::pin(async move {
            let live = match self.stage_documents(project, stage).await {
                Ok(live) => live,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(unavailable(e)),
            };
            let mut routes: Vec<RouteRecord> = Vec::new();
            for flow in live.flows {
                match serde_json::from_value::<FlowDocument>(flow.document) {
                    Ok(doc) => routes.extend(weft_router::document_records(
                        &flow.flow,
                        &flow.version,
                        &doc,
                    )),
                    Err(e) => tracing::warn!(
                        flow = %flow.flow, version = %flow.version, error = %e,
                        "a live document no longer parses; it has no routes"
                    ),
                }
            }
            Ok(Some(StageRoutes {
                version: live.version,
                routes,
            }))
        })
    }

    fn versions<'a>(&'a self, stages: &'a [StageKey]) -> StoreFuture<'a, Vec<Option<i64>>> {
        Box::pin(async move { self.stage_versions(stages).await.map_err(unavailable) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse() {
        assert_eq!(parse_notification("p/prod/7"), Some(("p", "prod", 7)));
        assert_eq!(
            parse_notification("my-project/dev/12"),
            Some(("my-project", "dev", 12))
        );
        assert_eq!(parse_notification("p/prod"), None);
        assert_eq!(parse_notification("p/prod/x"), None);
    }
}
