//! From a request (editor `run.start`, REST `POST .../runs`) to a started
//! run: which document, which inputs, which nodes are pinned or left out.
//!
//! - `start_from {node, run}`: every node that is not `node` or downstream
//!   of it is pinned to its outputs in that earlier run (of the same flow),
//!   so only `node` and what depends on it execute.
//! - `stop_at node`: only `node` and what it depends on execute.
//! - explicit `pinned` values win over `start_from`'s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};
use weft_editor_protocol::ws::{RunSource, RunStart};
use weft_runtime::plan::Plan;

use super::AppState;
use super::error::ApiError;
use super::runner::{RunRequest, Started};

/// Starts an editor run.
pub async fn from_editor(app: &AppState, start: RunStart) -> Result<Started, ApiError> {
    app.store.get_project(&start.project).await?;
    let (document, version) = match start.source {
        RunSource::Draft { document } => (document, None),
        RunSource::Version { version } => {
            let v = app
                .store
                .get_version(
                    &start.project,
                    &start.flow,
                    version.as_deref().unwrap_or("latest"),
                )
                .await?;
            (v.document, Some(v.id))
        }
    };
    let plan = app.runner.plan(&document).await?;
    let mut pinned: HashMap<String, Map<String, Value>> = HashMap::new();
    if let Some(from) = &start.start_from {
        let node = plan_index(&plan, &from.node, "start_from.node")?;
        // Its records are written just after its last event.
        app.runner
            .settled(&from.run, std::time::Duration::from_secs(10))
            .await;
        let earlier = app.store.get_run(&from.run).await?;
        if earlier.project != start.project || earlier.flow != start.flow {
            return Err(ApiError::bad_request(format!(
                "start_from.run `{}` is a run of `{}/{}`, not of `{}/{}`",
                from.run, earlier.project, earlier.flow, start.project, start.flow
            )));
        }
        let rerun = closure(&plan, node, |n| &n.downstream);
        for record in app.store.list_node_records(&from.run).await? {
            let Some(i) = plan.nodes.iter().position(|n| *n.id == *record.node) else {
                continue;
            };
            if rerun.contains(&i) {
                continue;
            }
            if let Some(Value::Object(outputs)) = record.outputs {
                pinned.insert(record.node, outputs);
            }
        }
    }
    pinned.extend(start.pinned);
    let only = match &start.stop_at {
        Some(node) => {
            let i = plan_index(&plan, node, "stop_at")?;
            Some(
                closure(&plan, i, |n| &n.upstream)
                    .into_iter()
                    .map(|i| plan.nodes[i].id.to_string())
                    .collect::<HashSet<String>>(),
            )
        }
        None => None,
    };
    app.runner
        .start(RunRequest {
            project: start.project,
            flow: start.flow,
            version,
            document: Arc::new(document),
            stage: None,
            trigger: "editor".into(),
            inputs: start.inputs.into_iter().collect(),
            pinned,
            only,
            record_late: false,
        })
        .await
}

fn plan_index(plan: &Plan, node: &str, field: &str) -> Result<usize, ApiError> {
    plan.nodes
        .iter()
        .position(|n| &*n.id == node)
        .ok_or_else(|| ApiError::bad_request(format!("{field}: the flow has no node `{node}`")))
}

/// `start` and every node reachable from it along `next`.
fn closure(
    plan: &Plan,
    start: usize,
    next: impl Fn(&weft_runtime::plan::PlanNode) -> &Vec<usize>,
) -> HashSet<usize> {
    let mut seen = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        for &j in next(&plan.nodes[i]) {
            if seen.insert(j) {
                stack.push(j);
            }
        }
    }
    seen
}
