//! The gateway's route tables and documents, and keeping them current.
//!
//! - [`Gateway::table`]: the compiled table of (project, stage), from the
//!   [`RouteCache`] or built from the route store's records.
//! - [`Gateway::document`]: the document of a published version (immutable,
//!   so cached without expiry, by project, flow and version).
//! - [`watch`]: drops tables whose stage changed in another process:
//!   PostgreSQL's `LISTEN weft_routes` ([`crate::store::ROUTES_CHANNEL`]) names each change as it commits;
//!   every stage held is also re-checked against the store, every
//!   [`POLL_FAST`] where nothing notifies (SQLite, DynamoDB, a listener
//!   being reconnected) and every [`POLL_SLOW`] behind a live listener.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_router::{Cached, RouteRecord};

use super::Gateway;
use crate::server::error::ApiError;
use crate::store::{Store, StoreError, parse_notification};

/// How often held tables are re-checked when nothing notifies.
pub const POLL_FAST: Duration = Duration::from_millis(250);
/// How often held tables are re-checked behind a live listener (in case a
/// notification was lost).
pub const POLL_SLOW: Duration = Duration::from_secs(5);
/// Documents kept before the cache starts over.
const DOCUMENTS_MAX: usize = 4096;

impl Gateway {
    /// The table of (project, stage), built on first use.
    pub(super) async fn table(
        &self,
        project: &str,
        stage: &str,
    ) -> Result<Arc<Cached<RouteRecord>>, ApiError> {
        if let Some(cached) = self.cache.get(project, stage) {
            return Ok(cached);
        }
        let live = self.routes.load(project, stage).await.map_err(|e| {
            tracing::warn!(error = %e, "loading the routes of {project}/{stage}");
            ApiError::unavailable(e.to_string())
        })?;
        let Some(live) = live else {
            return Err(ApiError::not_found(format!(
                "nothing is published on stage `{stage}` of project `{project}`"
            )));
        };
        let (table, skipped) = weft_router::stage_table(live.routes);
        for s in skipped {
            tracing::warn!("route left out of {project}/{stage}: {s}");
        }
        let table = table.map_err(|conflicts| {
            // Publishing refuses conflicts; a stage with some predates that.
            tracing::error!(?conflicts, "conflicting routes on {project}/{stage}");
            ApiError::internal("the stage's routes conflict; republish to fix")
        })?;
        // Typed overlaps published before they counted as conflicts: served
        // in the fixed typed order, reported once per table built.
        for c in table.overlaps() {
            tracing::warn!("overlapping routes on {project}/{stage}, served in typed order: {c}");
        }
        Ok(self.cache.put(project, stage, live.version, table))
    }

    /// The document of `record`'s version.
    pub(super) async fn document(
        &self,
        store: &Store,
        project: &str,
        record: &RouteRecord,
    ) -> Result<Arc<Value>, ApiError> {
        let key = (
            project.to_string(),
            record.flow.clone(),
            record.version.clone(),
        );
        if let Some(doc) = self.documents.get(&key) {
            return Ok(doc.clone());
        }
        let version = match store
            .get_version(project, &record.flow, &record.version)
            .await
        {
            Ok(v) => v,
            // The route store names a version this database lacks (a
            // DynamoDB table shared by another deployment, say).
            Err(StoreError::NotFound { what }) => {
                tracing::error!(%what, "a route names a version that is not stored");
                return Err(ApiError::internal(format!(
                    "route `{}` of flow `{}` runs version `{}`, which is not stored",
                    record.trigger, record.flow, record.version
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if self.documents.len() >= DOCUMENTS_MAX {
            self.documents.clear();
        }
        let doc = Arc::new(version.document);
        self.documents.insert(key, doc.clone());
        Ok(doc)
    }

    /// Brings a mirror route store (DynamoDB) up to date with the
    /// publications: every stage it holds at an older routes version, or
    /// not at all, is synced (a publish made while it was unreachable, a
    /// new table). Returns how many stages were synced; nothing to do for
    /// the SQL store.
    pub async fn reconcile(&self, store: &Store) -> Result<usize, ApiError> {
        if !self.routes.is_mirror() {
            return Ok(0);
        }
        let failed = |e: String| ApiError::unavailable(format!("reconciling the route store: {e}"));
        let stages = store.all_stage_versions().await?;
        let mut synced = 0;
        for chunk in stages.chunks(100) {
            let keys: Vec<_> = chunk.iter().map(|(k, _)| k.clone()).collect();
            let mirrored = self
                .routes
                .versions(&keys)
                .await
                .map_err(|e| failed(e.to_string()))?;
            for ((key, version), held) in chunk.iter().zip(mirrored) {
                if held.is_some_and(|h| h >= *version) {
                    continue;
                }
                if self.mirror(store, &key.0, &key.1).await.map_err(failed)? {
                    synced += 1;
                }
            }
        }
        Ok(synced)
    }

    /// Writes the publications' routes of (project, stage) to the mirror
    /// route store; whether it wrote (it held an older version).
    pub(super) async fn mirror(
        &self,
        store: &Store,
        project: &str,
        stage: &str,
    ) -> Result<bool, String> {
        let routes = weft_router::RouteStore::load(store, project, stage)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        self.routes
            .sync(project, stage, &routes)
            .await
            .map_err(|e| e.to_string())
    }

    /// Re-checks every held table against the route store.
    async fn revalidate(&self) {
        match self.cache.revalidate(self.routes.as_ref()).await {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::debug!(?dropped, "route tables out of date");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checking route versions"),
        }
    }
}

/// Keeps `gateway`'s tables current until `stop`: see the module header.
/// `store` is LISTENed on when it is PostgreSQL.
pub async fn watch(gateway: Arc<Gateway>, store: Store, stop: CancellationToken) {
    let mut listener: Option<PgListener> = None;
    let mut can_listen = true;
    let mut reconnect_at = Instant::now();
    let mut poll_at = Instant::now() + POLL_FAST;
    loop {
        if can_listen && listener.is_none() && Instant::now() >= reconnect_at {
            match store.route_listener().await {
                Ok(Some(l)) => {
                    listener = Some(l);
                    // Changes made while nobody listened.
                    gateway.revalidate().await;
                    poll_at = Instant::now() + POLL_SLOW;
                }
                Ok(None) => can_listen = false,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for route changes; checking versions instead");
                    reconnect_at = Instant::now() + Duration::from_secs(1);
                }
            }
        }
        let wake = if can_listen && listener.is_none() {
            poll_at.min(reconnect_at)
        } else {
            poll_at
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= poll_at {
                    gateway.revalidate().await;
                    poll_at = Instant::now() + if listener.is_some() { POLL_SLOW } else { POLL_FAST };
                }
            }
            got = next_notification(&mut listener) => match got {
                Ok(Some(payload)) => match parse_notification(&payload) {
                    Some((project, stage, version)) => {
                        gateway.cache.advance(project, stage, version);
                    }
                    None => tracing::warn!(%payload, "an unreadable route notification"),
                },
                // The connection dropped: notifications may have been lost.
                Ok(None) | Err(_) => {
                    tracing::warn!("the route listener lost its connection; reconnecting");
                    listener = None;
                    reconnect_at = Instant::now();
                    poll_at = Instant::now();
                }
            },
        }
    }
}

/// The next notification's payload; `Ok(None)` when the connection was
/// lost. Never resolves without a listener.
async fn next_notification(listener: &mut Option<PgListener>) -> Result<Option<String>, ()> {
    match listener {
        Some(l) => match l.try_recv().await {
            Ok(Some(n)) => Ok(Some(n.payload().to_string())),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "the route listener failed");
                Err(())
            }
        },
        None => std::future::pending().await,
    }
}
