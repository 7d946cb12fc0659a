//! Route stores: where a router reads the routes live on a stage.
//!
//! A stage's routes are its published flows' HTTP triggers, each with the
//! flow version it runs ([`RouteRecord`]), plus the stage's **routes
//! version**, a counter every publish and unpublish on the stage bumps
//! ([`StageRoutes`]). Routers build a [`crate::RouteTable`] from the records
//! ([`stage_table`], which still serves routes published before typed
//! overlaps were a conflict) and keep it in a [`crate::RouteCache`] stamped with
//! that version; [`crate::RouteCache::revalidate`] asks the store for the
//! current versions of the stages held ([`RouteStore::versions`]) and drops
//! the tables that are out of date.
//!
//! Two stores implement [`RouteStore`]: the SQL one (Weft's own database,
//! where the records are derived from the publications; in the `weft`
//! crate) and DynamoDB (`crate::dynamodb`, behind the `dynamodb`
//! feature), which holds one item per route and one version item per
//! stage.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use weft_editor_protocol::flow::FlowDocument;
use weft_editor_protocol::trigger::{HttpTrigger, Trigger};

use crate::method::{Method, Methods};
use crate::pattern::Pattern;
use crate::published::FlowRoute;
use crate::table::{Conflict, ConflictPolicy, Route, RouteTable};

/// A future returned by a [`RouteStore`].
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RouteStoreError>> + Send + 'a>>;

/// One route live on a stage: a trigger of a published flow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRecord {
    pub flow: String,
    /// The trigger's id in the flow (written or default).
    pub trigger: String,
    /// The id of the published version the route runs.
    pub version: String,
    pub http: HttpTrigger,
}

/// Everything live on a stage, as a router needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageRoutes {
    /// Bumped by every publish and unpublish on the stage.
    pub version: i64,
    pub routes: Vec<RouteRecord>,
}

/// (project, stage).
pub type StageKey = (String, String);

/// A route store could not answer.
#[derive(Debug, Error)]
pub enum RouteStoreError {
    /// The store could not be reached or refused the request.
    #[error("the {store} route store is unavailable: {message}")]
    Unavailable {
        store: &'static str,
        message: String,
    },
    /// The store holds something this Weft cannot read.
    #[error("the {store} route store holds a bad record for `{stage}`: {message}")]
    Corrupt {
        store: &'static str,
        stage: String,
        message: String,
    },
}

/// Where a router reads routes from. Object-safe: a router holds an
/// `Arc<dyn RouteStore>` chosen at start-up.
pub trait RouteStore: Send + Sync + std::fmt::Debug {
    /// A short name for messages (`sql`, `dynamodb`).
    fn kind(&self) -> &'static str;

    /// The routes live on (project, stage) and its routes version; `None`
    /// when the store knows no such stage.
    fn load<'a>(&'a self, project: &'a str, stage: &'a str)
    -> StoreFuture<'a, Option<StageRoutes>>;

    /// The current routes version of each of `stages`, in order (`None`
    /// for a stage the store no longer knows). One round trip per batch,
    /// not per stage, where the store allows it.
    fn versions<'a>(&'a self, stages: &'a [StageKey]) -> StoreFuture<'a, Vec<Option<i64>>>;

    /// Whether publishes must write routes here ([`RouteStore::sync`]):
    /// false for a store that derives them from the publications (SQL).
    fn is_mirror(&self) -> bool {
        false
    }

    /// Makes the routes of (project, stage) equal `routes`, read from the
    /// publications after a publish or unpublish, unless the store already
    /// holds that routes version or a newer one (then `false`, nothing
    /// written). A store that is not a mirror has nothing to do.
    fn sync<'a>(
        &'a self,
        project: &'a str,
        stage: &'a str,
        routes: &'a StageRoutes,
    ) -> StoreFuture<'a, bool> {
        let _ = (project, stage, routes);
        Box::pin(async { Ok(false) })
    }
}

/// The route records of flow `flow`'s version `version`, one per trigger.
pub fn document_records(flow: &str, version: &str, doc: &FlowDocument) -> Vec<RouteRecord> {
    doc.triggers
        .iter()
        .enumerate()
        .map(|(index, trigger)| {
            let Trigger::Http(http) = trigger;
            RouteRecord {
                flow: flow.to_string(),
                trigger: trigger.id_or_default(index),
                version: version.to_string(),
                http: http.clone(),
            }
        })
        .collect()
}

impl RouteRecord {
    /// The record as a table route (its methods and pattern parsed), or
    /// why it cannot be one. Stored versions were validated, so this fails
    /// only for a record written by an older Weft or by hand.
    pub fn into_route(self) -> Result<Route<RouteRecord>, String> {
        let (flow, id) = (self.flow.clone(), self.trigger.clone());
        let (methods, pattern) =
            parse_route(&self.http).map_err(|e| format!("flow `{flow}`, trigger `{id}`: {e}"))?;
        Ok(Route {
            id,
            flow,
            methods,
            pattern,
            target: self,
        })
    }

    /// The record without its version, as [`crate::flow_routes`] names it.
    pub fn flow_route(&self) -> FlowRoute {
        FlowRoute {
            flow: self.flow.clone(),
            trigger: self.trigger.clone(),
            http: self.http.clone(),
        }
    }
}

/// A trigger's methods and pattern, parsed.
pub(crate) fn parse_route(http: &HttpTrigger) -> Result<(Methods, Pattern), String> {
    let methods = http
        .methods
        .iter()
        .map(|m| m.parse::<Method>())
        .try_fold(Methods::NONE, |set, m| m.map(|m| set.union(m.into())))
        .map_err(|e| e.to_string())?;
    if methods.is_empty() {
        return Err("no methods".into());
    }
    let pattern = Pattern::parse(&http.path).map_err(|e| e.to_string())?;
    Ok((methods, pattern))
}

/// The table of a stage's records. Records that do not parse are left out
/// and described in the second list. Publishing refuses conflicts, so a
/// stage holds some only if written around it, or if published before
/// typed segments sharing a text counted as one: routes of the same shape
/// fail the build (every conflict is returned), typed overlaps are served
/// in the fixed typed order and listed by [`RouteTable::overlaps`] for the
/// caller to report ([`ConflictPolicy::TolerateTypedOverlaps`]).
pub fn stage_table(
    records: Vec<RouteRecord>,
) -> (Result<RouteTable<RouteRecord>, Vec<Conflict>>, Vec<String>) {
    let mut routes = Vec::with_capacity(records.len());
    let mut skipped = Vec::new();
    for record in records {
        match record.into_route() {
            Ok(route) => routes.push(route),
            Err(e) => skipped.push(e),
        }
    }
    let table = RouteTable::build_with(routes, ConflictPolicy::TolerateTypedOverlaps);
    (table, skipped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::table::Lookup;

    #[test]
    fn records_build_a_table_and_bad_ones_are_named() {
        let doc: FlowDocument = serde_json::from_value(serde_json::json!({
            "weft": 1, "name": "hello", "nodes": [],
            "triggers": [
                {"kind": "http", "path": "/hello/{name}", "auth": "public"},
                {"kind": "http", "id": "list", "methods": ["GET"], "path": "/hellos"}
            ]
        }))
        .unwrap();
        let mut records = document_records("hello", "v1", &doc);
        assert_eq!(records[0].trigger, "http-0");
        assert_eq!(records[1].trigger, "list");
        let mut bad = records[1].clone();
        bad.trigger = "broken".into();
        bad.http.path = "/x/{".into();
        records.push(bad);
        let (table, skipped) = stage_table(records);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("trigger `broken`"), "{skipped:?}");
        let table = table.unwrap();
        let Lookup::Found { route, .. } = table.lookup(Method::Post, "/hello/ada").unwrap() else {
            panic!("no match");
        };
        assert_eq!(route.target.version, "v1");
        assert_eq!(route.target.flow_route().trigger, "http-0");
    }

    /// The records of flow `flow` (version `v1`), one GET trigger per path.
    fn get_records(flow: &str, paths: &[&str]) -> Vec<RouteRecord> {
        let triggers: Vec<serde_json::Value> = paths
            .iter()
            .map(|path| serde_json::json!({"kind": "http", "methods": ["GET"], "path": path}))
            .collect();
        let doc: FlowDocument = serde_json::from_value(serde_json::json!({
            "weft": 1, "name": flow, "nodes": [], "triggers": triggers
        }))
        .unwrap();
        document_records(flow, "v1", &doc)
    }

    #[test]
    fn typed_overlaps_published_before_are_served_same_shapes_are_not() {
        // Published when only same-shape routes conflicted.
        let mut records = get_records("codes", &["/a/{c:regex([0-9]+)}"]);
        records.extend(get_records("ids", &["/a/{id:int}"]));
        let (table, skipped) = stage_table(records.clone());
        assert!(skipped.is_empty(), "{skipped:?}");
        let table = table.unwrap();
        let [overlap] = table.overlaps() else {
            panic!("{:?}", table.overlaps());
        };
        assert_eq!(overlap.kind, crate::ConflictKind::TypedOverlap);
        assert_eq!(
            (&*overlap.first.flow, &*overlap.second.flow),
            ("codes", "ids")
        );
        // The fixed typed order: `int` first.
        let Lookup::Found { route, params } = table.lookup(Method::Get, "/a/5").unwrap() else {
            panic!("no match");
        };
        assert_eq!(route.target.flow, "ids");
        assert_eq!(params.get("id"), Some(&crate::ParamValue::Int(5)));
        let Lookup::Found { route, .. } = table
            .lookup(Method::Get, "/a/99999999999999999999")
            .unwrap()
        else {
            panic!("no match");
        };
        assert_eq!(route.target.flow, "codes");
        // Publishing stays strict.
        assert!(
            RouteTable::build(
                records
                    .clone()
                    .into_iter()
                    .map(|r| r.into_route().unwrap())
                    .collect()
            )
            .is_err()
        );

        // A same-shape duplicate still fails, and every conflict is named.
        records.extend(get_records("more-ids", &["/a/{n:int}"]));
        let (table, _) = stage_table(records);
        let conflicts = table.unwrap_err();
        let kinds: Vec<_> = conflicts
            .iter()
            .map(|c| (c.first.flow.as_str(), c.second.flow.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("codes", "ids", crate::ConflictKind::TypedOverlap),
                ("codes", "more-ids", crate::ConflictKind::TypedOverlap),
                ("ids", "more-ids", crate::ConflictKind::SameShape),
            ]
        );
    }
}
