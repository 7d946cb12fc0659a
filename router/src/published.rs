//! Routes of published flows: the HTTP triggers of a flow document as
//! [`Route`]s, and the check a publish makes against what is already live
//! on the stage.

use weft_editor_protocol::flow::FlowDocument;
use weft_editor_protocol::trigger::{HttpTrigger, Trigger};

use crate::store::parse_route;
use crate::table::{Conflict, Route, RouteTable};

/// What a route of a published flow answers with: the flow and the trigger
/// that declared it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRoute {
    pub flow: String,
    /// The trigger's id (written or default).
    pub trigger: String,
    pub http: HttpTrigger,
}

/// The routes `doc` declares, as flow `flow`. A stored version was
/// validated, so every trigger parses; one that does not (a document
/// stored by an older Weft, say) is left out and described in the second
/// list.
pub fn flow_routes(flow: &str, doc: &FlowDocument) -> (Vec<Route<FlowRoute>>, Vec<String>) {
    let mut routes = Vec::new();
    let mut skipped = Vec::new();
    for (index, trigger) in doc.triggers.iter().enumerate() {
        let id = trigger.id_or_default(index);
        let Trigger::Http(http) = trigger;
        match parse_route(http) {
            Ok((methods, pattern)) => routes.push(Route {
                id: id.clone(),
                flow: flow.to_string(),
                methods,
                pattern,
                target: FlowRoute {
                    flow: flow.to_string(),
                    trigger: id,
                    http: http.clone(),
                },
            }),
            Err(e) => skipped.push(format!("flow `{flow}`, trigger `{id}`: {e}")),
        }
    }
    (routes, skipped)
}

/// Whether publishing `doc` as flow `flow` to a stage where `live` (flow
/// name and document of every other flow live there) is published would
/// make two routes no request could tell apart: every such pair that
/// involves `flow` (pairs among the others are not this publish's doing).
pub fn publish_conflicts(
    flow: &str,
    doc: &FlowDocument,
    live: &[(String, FlowDocument)],
) -> Vec<Conflict> {
    let mut routes = Vec::new();
    for (other, other_doc) in live.iter().filter(|(name, _)| name != flow) {
        routes.extend(flow_routes(other, other_doc).0);
    }
    routes.extend(flow_routes(flow, doc).0);
    match RouteTable::build(routes) {
        Ok(_) => Vec::new(),
        Err(conflicts) => conflicts
            .into_iter()
            .filter(|c| c.first.flow == flow || c.second.flow == flow)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn doc(name: &str, triggers: serde_json::Value) -> FlowDocument {
        serde_json::from_value(serde_json::json!({
            "weft": 1, "name": name, "nodes": [], "triggers": triggers
        }))
        .unwrap()
    }

    #[test]
    fn triggers_become_routes() {
        let d = doc(
            "hello",
            serde_json::json!([
                {"kind": "http", "path": "/hello/{name}", "auth": "public"},
                {"kind": "http", "id": "list", "methods": ["GET", "HEAD"], "path": "/hellos"}
            ]),
        );
        let (routes, skipped) = flow_routes("hello", &d);
        assert!(skipped.is_empty(), "{skipped:?}");
        let ids: Vec<&str> = routes.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["http-0", "list"]);
        assert_eq!(routes[0].methods.to_string(), "POST");
        assert_eq!(routes[1].methods.to_string(), "GET,HEAD");
        assert_eq!(routes[1].target.flow, "hello");
    }

    #[test]
    fn a_publish_conflicts_only_through_its_own_routes() {
        let a = doc(
            "a",
            serde_json::json!([{"kind": "http", "id": "greet", "path": "/hello/{name}"}]),
        );
        let b = doc(
            "b",
            serde_json::json!([{"kind": "http", "id": "hi", "methods": ["POST", "GET"], "path": "/hello/{who}"}]),
        );
        let c = doc(
            "c",
            serde_json::json!([{"kind": "http", "path": "/hello/{n:int}"}]),
        );
        let live = vec![("a".to_string(), a.clone()), ("c".to_string(), c.clone())];
        let conflicts = publish_conflicts("b", &b, &live);
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let text = conflicts[0].to_string();
        assert!(
            text.contains("flow `a`") && text.contains("flow `b`"),
            "{text}"
        );
        assert_eq!(conflicts[0].methods.to_string(), "POST");
        // Republishing a flow replaces its own routes: no conflict with itself.
        assert!(publish_conflicts("a", &a, &live).is_empty());
        // A GET-only route beside a POST-only one does not conflict.
        let get = doc(
            "g",
            serde_json::json!([{"kind": "http", "methods": ["GET"], "path": "/hello/{x}"}]),
        );
        assert!(publish_conflicts("g", &get, &live).is_empty());
    }

    #[test]
    fn typed_segments_sharing_a_text_conflict_across_flows() {
        let ids = doc(
            "ids",
            serde_json::json!([{"kind": "http", "id": "by-id", "methods": ["GET"], "path": "/a/{id:int}"}]),
        );
        let live = vec![("ids".to_string(), ids)];
        let codes = doc(
            "codes",
            serde_json::json!([{"kind": "http", "id": "by-code", "methods": ["GET"], "path": "/a/{code:regex([0-9]+)}"}]),
        );
        let conflicts = publish_conflicts("codes", &codes, &live);
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(
            conflicts[0].to_string(),
            "route `by-code` of flow `codes` (/a/{code:regex([0-9]+)}) conflicts with \
             route `by-id` of flow `ids` (/a/{id:int}): both answer GET on the same paths"
        );
        let names = doc(
            "names",
            serde_json::json!([{"kind": "http", "methods": ["GET"], "path": "/a/{name:regex([a-z]+)}"}]),
        );
        assert!(publish_conflicts("names", &names, &live).is_empty());
    }
}
