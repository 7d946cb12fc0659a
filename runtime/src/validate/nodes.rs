//! Checks of the header, the flow inputs and each node: ids, type
//! resolution, policies, config (schema, then the node's own `describe`)
//! and capabilities.

use std::sync::Arc;

use serde_json::Value;
use weft_editor_protocol::flow::{INPUT_NODE, NodeTypeRef};
use weft_editor_protocol::{Diagnostic, DiagnosticCode};

use super::{Checker, ResolvedNode, locate, valid_id};
use crate::registry::Registry;

impl Checker<'_> {
    pub(super) fn node_path(&self, k: usize) -> String {
        format!("/nodes/{}", self.parsed.node_index[k])
    }

    pub(super) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn check_header(&mut self) {
        let doc = &self.parsed.doc;
        if doc.weft != weft_editor_protocol::flow::FORMAT_VERSION {
            self.push(Diagnostic::new(
                DiagnosticCode::FormatVersion,
                "/weft",
                format!(
                    "unsupported format version {}; this Weft reads version {}",
                    doc.weft,
                    weft_editor_protocol::flow::FORMAT_VERSION
                ),
            ));
        }
        if self.parsed.name_ok && doc.name.trim().is_empty() {
            self.push(Diagnostic::new(
                DiagnosticCode::Schema,
                "/name",
                "the flow's name must not be empty",
            ));
        }
        for (name, decl) in &doc.inputs {
            let pointer = format!("/inputs/{}", locate::escape(name));
            if !valid_id(name) {
                self.diags.push(Diagnostic::new(
                    DiagnosticCode::Schema,
                    pointer.clone(),
                    format!("input name `{name}` must start with an ASCII letter or `_` and contain only ASCII letters, digits, `_` and `-`"),
                ));
            }
            if let Some(default) = decl.default_value()
                && let Err(e) = decl.ty().check(default)
            {
                self.diags.push(Diagnostic::new(
                    DiagnosticCode::TypeMismatch,
                    format!("{pointer}/default"),
                    format!("default for input `{name}` does not match its type: {e}"),
                ));
            }
        }
        if let Some(settings) = &doc.settings {
            if settings.max_concurrency == Some(0) {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    "/settings/max_concurrency",
                    "must be at least 1",
                ));
            }
            if settings.node_timeout_ms == Some(0) {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    "/settings/node_timeout_ms",
                    "must be at least 1",
                ));
            }
            if settings.run_timeout_ms == Some(0) {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    "/settings/run_timeout_ms",
                    "must be at least 1",
                ));
            }
        }
    }

    pub(super) async fn check_nodes(&mut self, registry: &Registry) {
        let doc = &self.parsed.doc;
        for (k, node) in doc.nodes.iter().enumerate() {
            let path = self.node_path(k);
            let id = node.id.as_str();
            if id == INPUT_NODE {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidNodeId,
                        format!("{path}/id"),
                        "`input` is reserved for the flow's inputs; pick another id",
                    )
                    .node(id),
                );
            } else if !valid_id(id) {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidNodeId,
                        format!("{path}/id"),
                        format!("node id `{id}` must start with an ASCII letter or `_` and contain only ASCII letters, digits, `_` and `-`"),
                    )
                    .node(id),
                );
            }
            match self.ids.get(id) {
                Some(&first) => {
                    let first_path = self.node_path(first);
                    self.push(
                        Diagnostic::new(
                            DiagnosticCode::DuplicateNodeId,
                            format!("{path}/id"),
                            format!("duplicate node id `{id}` (first used at {first_path})"),
                        )
                        .node(id),
                    );
                }
                None => {
                    self.ids.insert(id, k);
                }
            }

            self.check_policy(k, &path);
            let resolved = self.resolve_node(k, &path, registry).await;
            self.resolved.push(resolved);
        }
    }

    pub(super) fn check_policy(&mut self, k: usize, path: &str) {
        let node = &self.parsed.doc.nodes[k];
        let Some(policy) = &node.policy else { return };
        let id = node.id.clone();
        let mut bad = |field: &str, msg: String| {
            self.diags.push(
                Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    format!("{path}/policy/{field}"),
                    msg,
                )
                .node(id.clone()),
            );
        };
        if policy.timeout_ms == Some(0) {
            bad("timeout_ms", "must be at least 1".into());
        }
        if policy.memory_mib == Some(0) {
            bad("memory_mib", "must be at least 1".into());
        }
        if let Some(retry) = &policy.retry {
            if !(1..=10).contains(&retry.max_attempts) {
                bad(
                    "retry/max_attempts",
                    format!("must be between 1 and 10, got {}", retry.max_attempts),
                );
            }
            if !(1.0..=10.0).contains(&retry.multiplier) {
                bad(
                    "retry/multiplier",
                    format!("must be between 1 and 10, got {}", retry.multiplier),
                );
            }
            if retry.backoff_ms > 600_000 {
                bad(
                    "retry/backoff_ms",
                    format!(
                        "must be at most 600000 (10 minutes), got {}",
                        retry.backoff_ms
                    ),
                );
            }
        }
    }

    pub(super) async fn resolve_node(
        &mut self,
        k: usize,
        path: &str,
        registry: &Registry,
    ) -> Option<ResolvedNode> {
        let node = &self.parsed.doc.nodes[k];
        let id = node.id.clone();
        let type_ref = match NodeTypeRef::parse(&node.node_type) {
            Ok(r) => r,
            Err(e) => {
                self.push(
                    Diagnostic::new(DiagnosticCode::UnknownNodeType, format!("{path}/type"), e)
                        .node(id),
                );
                return None;
            }
        };
        let Some(registered) = registry.resolve(&type_ref) else {
            let versions = registry.versions(&type_ref.name);
            let message = if !versions.is_empty() {
                format!(
                    "no version of `{}` matches `{}` (available: {})",
                    type_ref.name,
                    node.node_type,
                    versions.join(", ")
                )
            } else {
                let hint = registry
                    .suggest(&type_ref.name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                format!("unknown node type `{}`{hint}", type_ref.name)
            };
            self.push(
                Diagnostic::new(
                    DiagnosticCode::UnknownNodeType,
                    format!("{path}/type"),
                    message,
                )
                .node(id),
            );
            return None;
        };
        let component = registered.component.clone();

        if let Some(mib) = node.policy.as_ref().and_then(|p| p.memory_mib) {
            let max = registry.host().config().max_memory_limit / (1024 * 1024);
            if u64::from(mib) > max {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidPolicy,
                        format!("{path}/policy/memory_mib"),
                        format!("{mib} MiB is more than this host allows ({max} MiB)"),
                    )
                    .node(id.clone()),
                );
            }
        }

        let config = node
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        let config_path = format!("{path}/config");
        let schema_problems = component.check_config(&config);
        if !schema_problems.is_empty() {
            for (pointer, message) in schema_problems {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidConfig,
                        format!("{config_path}{pointer}"),
                        format!(
                            "invalid config for `{}`: {message}",
                            component.info.type_name
                        ),
                    )
                    .node(id.clone()),
                );
            }
            return None;
        }
        let config_text: Arc<str> = config.to_string().into();
        let spec = match component.describe(&config_text).await {
            Ok(Ok(spec)) => spec,
            Ok(Err(problems)) => {
                for p in problems {
                    self.push(
                        Diagnostic::new(
                            DiagnosticCode::InvalidConfig,
                            format!("{config_path}{}", p.path),
                            format!(
                                "invalid config for `{}`: {}",
                                component.info.type_name, p.message
                            ),
                        )
                        .node(id.clone()),
                    );
                }
                return None;
            }
            Err(e) => {
                self.push(
                    Diagnostic::new(DiagnosticCode::InvalidConfig, config_path, e.to_string())
                        .node(id),
                );
                return None;
            }
        };
        for cap in &spec.capabilities {
            if !self.parsed.doc.capabilities.grants(*cap) {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::CapabilityNotGranted,
                        format!("{path}/type"),
                        format!(
                            "`{}` needs the `{}` capability, which this flow does not grant (add it under `capabilities.{}`)",
                            component.info.type_name,
                            cap.as_str(),
                            cap.as_str()
                        ),
                    )
                    .node(id.clone()),
                );
            }
        }
        for used in &spec.uses {
            let cap = used.capability.as_str();
            if self.parsed.doc.capabilities.grants(used.capability)
                && !self
                    .parsed
                    .doc
                    .capabilities
                    .grants_name(used.capability, &used.name)
            {
                // Point at the config field that names it, when one does.
                let field = config.as_object().and_then(|fields| {
                    fields
                        .iter()
                        .find(|(_, v)| v.as_str() == Some(used.name.as_str()))
                        .map(|(k, _)| {
                            format!("{config_path}/{}", k.replace('~', "~0").replace('/', "~1"))
                        })
                });
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::CapabilityNotGranted,
                        field.unwrap_or_else(|| config_path.clone()),
                        format!(
                            "`{}` uses the {cap} grant `{}`, which this flow does not grant (add `{}` to `capabilities.{cap}`)",
                            component.info.type_name, used.name, used.name
                        ),
                    )
                    .node(id.clone()),
                );
            }
        }
        Some(ResolvedNode {
            component,
            spec,
            config_text,
        })
    }
}
