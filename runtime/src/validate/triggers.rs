//! Triggers: tolerant parsing of `triggers` and the checks of each one.
//!
//! Parsing reads a trigger field by field (like a node), so a bad `auth`
//! does not hide a bad `path`; a field that does not parse is reported as
//! `schema` and replaced by its default, and the trigger is still checked.
//! The checks report, each at its JSON pointer:
//! - `invalid_trigger`: an invalid id; no method, an unknown or repeated
//!   method, `OPTIONS` together with `cors`; no mode, a repeated mode; CORS
//!   origins, header names, credentials with any origin, `max_age_secs`;
//! - `invalid_route_pattern`: a `path` that `weft_router::Pattern` rejects,
//!   with the router's message (segment, column, what is wrong);
//! - `duplicate_trigger_id`: two triggers with the same (written or
//!   default) id;
//! - `route_conflict`: two HTTP triggers of the flow that no request could
//!   tell apart (`weft_router::RouteTable::build` over the flow's own
//!   triggers: overlapping methods, and patterns of the same shape or
//!   whose typed segments could accept a common text, such as
//!   `/a/{id:int}` and `/a/{c:regex([0-9]+)}`).

use std::collections::HashMap;

use serde_json::{Map, Value};
use weft_editor_protocol::trigger::{Cors, HttpTrigger, Trigger};
use weft_editor_protocol::types::json_kind;
use weft_editor_protocol::{Diagnostic, DiagnosticCode};
use weft_router::{Method, Methods, Pattern, Route, RouteTable};

use super::parse::{Fields, array, schema_error};
use super::{Checker, valid_id};

/// Where a parsed trigger came from.
#[derive(Debug, Clone, Copy)]
pub struct TriggerSource {
    /// Its index in the source's `triggers` list.
    pub index: usize,
    /// Whether `methods` was absent or parsed (if not, the trigger takes
    /// no part in the conflict check).
    pub methods_ok: bool,
}

const KINDS: &[&str] = &["http"];
const HTTP_FIELDS: &[&str] = &["kind", "id", "methods", "path", "auth", "modes", "cors"];
const CORS_FIELDS: &[&str] = &[
    "origins",
    "headers",
    "expose_headers",
    "credentials",
    "max_age_secs",
];

/// Parses `triggers`, keeping every trigger that has a kind and a path.
pub(super) fn parse_triggers(
    top: &Map<String, Value>,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Trigger>, Vec<TriggerSource>) {
    let mut triggers = Vec::new();
    let mut sources = Vec::new();
    for (index, item) in array(top, "triggers", diags).iter().enumerate() {
        if let Some((trigger, methods_ok)) = parse_trigger(item, index, diags) {
            triggers.push(trigger);
            sources.push(TriggerSource { index, methods_ok });
        }
    }
    (triggers, sources)
}

fn parse_trigger(
    item: &Value,
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Trigger, bool)> {
    let base = format!("/triggers/{index}");
    let kinds = match KINDS {
        [only] => format!("`{only}`"),
        all => format!("one of `{}`", all.join("`, `")),
    };
    match item.get("kind") {
        _ if !item.is_object() => {}
        None => {
            diags.push(schema_error(
                base,
                format!("missing field `kind` (expected {kinds})"),
            ));
            return None;
        }
        Some(Value::String(kind)) if kind == "http" => {}
        Some(kind) => {
            let found = match kind {
                Value::String(s) => format!("unknown trigger kind `{s}`"),
                other => format!("found {} for the trigger kind", json_kind(other)),
            };
            diags.push(schema_error(
                format!("{base}/kind"),
                format!("{found}: expected {kinds}"),
            ));
            return None;
        }
    }
    let mut f = Fields::new(item, &base, None, HTTP_FIELDS, diags)?;
    let id = f.get("id", diags);
    let methods: Option<Vec<String>> = f.get("methods", diags);
    let methods_ok = methods.is_some() || item.get("methods").is_none();
    let path: Option<String> = f.require("path", diags);
    let auth = f.get("auth", diags);
    let modes = f.get("modes", diags);
    let cors = match item.get("cors") {
        Some(value) => parse_cors(value, &format!("{base}/cors"), diags),
        None => None,
    };
    // Without a path there is nothing to route; the problem was reported.
    let path = path?;
    let methods = methods.unwrap_or_else(|| {
        HttpTrigger::DEFAULT_METHODS
            .iter()
            .map(|m| m.to_string())
            .collect()
    });
    let trigger = HttpTrigger {
        id,
        methods,
        path,
        auth: auth.unwrap_or_default(),
        modes: modes.unwrap_or_else(|| HttpTrigger::DEFAULT_MODES.to_vec()),
        cors,
    };
    Some((Trigger::Http(trigger), methods_ok))
}

fn parse_cors(value: &Value, base: &str, diags: &mut Vec<Diagnostic>) -> Option<Cors> {
    let mut f = Fields::new(value, base, None, CORS_FIELDS, diags)?;
    let origins = f.require("origins", diags);
    let headers = f.get("headers", diags);
    let expose_headers = f.get("expose_headers", diags);
    let credentials = f.get("credentials", diags);
    let max_age_secs = f.get("max_age_secs", diags);
    Some(Cors {
        origins: origins?,
        headers: headers.unwrap_or_default(),
        expose_headers: expose_headers.unwrap_or_default(),
        credentials: credentials.unwrap_or_default(),
        max_age_secs,
    })
}

fn invalid(pointer: String, message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(DiagnosticCode::InvalidTrigger, pointer, message)
}

impl Checker<'_> {
    pub(super) fn check_triggers(&mut self) {
        let parsed = self.parsed;
        let doc = &parsed.doc;
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut routes = Vec::new();
        for (k, trigger) in doc.triggers.iter().enumerate() {
            let Some(source) = parsed.triggers.get(k).copied() else {
                continue;
            };
            let Trigger::Http(http) = trigger;
            let base = format!("/triggers/{}", source.index);

            let id = trigger.id_or_default(source.index);
            if http.id.is_some() && !valid_id(&id) {
                self.diags.push(invalid(
                    format!("{base}/id"),
                    format!(
                        "trigger id `{id}` must start with an ASCII letter or `_` and contain \
                         only ASCII letters, digits, `_` and `-`"
                    ),
                ));
            }
            match ids.get(&id) {
                Some(&first) => {
                    let (pointer, message) = match http.id {
                        Some(_) => (
                            format!("{base}/id"),
                            format!(
                                "duplicate trigger id `{id}` (first used by /triggers/{first})"
                            ),
                        ),
                        None => (
                            base.clone(),
                            format!(
                                "duplicate trigger id `{id}`: /triggers/{first} uses this \
                                 trigger's default id; give this trigger an `id`"
                            ),
                        ),
                    };
                    self.diags.push(Diagnostic::new(
                        DiagnosticCode::DuplicateTriggerId,
                        pointer,
                        message,
                    ));
                }
                None => {
                    ids.insert(id, source.index);
                }
            }

            let methods = self.check_methods(http, &base);
            self.check_modes(http, &base);
            if let Some(cors) = &http.cors {
                self.check_cors(cors, &format!("{base}/cors"));
            }
            match Pattern::parse(&http.path) {
                Ok(pattern) => {
                    if source.methods_ok && !methods.is_empty() {
                        routes.push(Route {
                            // The position in `doc.triggers`: unique even
                            // when ids are not, and mapped back below.
                            id: k.to_string(),
                            flow: doc.name.clone(),
                            methods,
                            pattern,
                            target: (),
                        });
                    }
                }
                Err(e) => self.diags.push(Diagnostic::new(
                    DiagnosticCode::InvalidRoutePattern,
                    format!("{base}/path"),
                    e.to_string(),
                )),
            }
        }
        self.check_conflicts(routes);
    }

    /// Reports bad methods; returns the set of the valid ones.
    fn check_methods(&mut self, http: &HttpTrigger, base: &str) -> Methods {
        let mut set = Methods::NONE;
        if http.methods.is_empty() {
            self.diags.push(invalid(
                format!("{base}/methods"),
                "lists no method: give at least one (leave `methods` out for `[\"POST\"]`)",
            ));
        }
        let mut seen: HashMap<Method, usize> = HashMap::new();
        for (j, name) in http.methods.iter().enumerate() {
            let pointer = format!("{base}/methods/{j}");
            let method = match name.parse::<Method>() {
                Ok(m) => m,
                Err(e) => {
                    let upper = name.to_ascii_uppercase();
                    let hint = if upper.parse::<Method>().is_ok() {
                        format!(" (method names are upper-case: `{upper}`)")
                    } else if name == "*" || upper == "ANY" {
                        " (list the methods one by one)".to_string()
                    } else {
                        let all: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
                        format!(" (expected one of {})", all.join(", "))
                    };
                    self.diags.push(invalid(pointer, format!("{e}{hint}")));
                    continue;
                }
            };
            if let Some(first) = seen.get(&method) {
                self.diags.push(invalid(
                    pointer,
                    format!("`{method}` is listed twice (first at {base}/methods/{first})"),
                ));
                continue;
            }
            seen.insert(method, j);
            if method == Method::Options && http.cors.is_some() {
                self.diags.push(invalid(
                    pointer,
                    "`OPTIONS` cannot be answered by the flow of a trigger with `cors`: \
                     the router answers its preflight requests",
                ));
            }
            set = set.union(method.into());
        }
        set
    }

    fn check_modes(&mut self, http: &HttpTrigger, base: &str) {
        if http.modes.is_empty() {
            self.diags.push(invalid(
                format!("{base}/modes"),
                "lists no mode: give at least one of `sync`, `stream`, `async` \
                 (leave `modes` out for `[\"sync\"]`)",
            ));
        }
        for (j, mode) in http.modes.iter().enumerate() {
            if let Some(first) = http.modes[..j].iter().position(|m| m == mode) {
                self.diags.push(invalid(
                    format!("{base}/modes/{j}"),
                    format!(
                        "`{}` is listed twice (first at {base}/modes/{first})",
                        mode.as_str()
                    ),
                ));
            }
        }
    }

    fn check_cors(&mut self, cors: &Cors, base: &str) {
        let any = cors.origins.iter().any(|o| o == "*");
        if cors.origins.is_empty() {
            self.diags.push(invalid(
                format!("{base}/origins"),
                "lists no origin: give at least one, or `[\"*\"]` for any origin",
            ));
        }
        for (j, origin) in cors.origins.iter().enumerate() {
            let pointer = format!("{base}/origins/{j}");
            if let Some(first) = cors.origins[..j].iter().position(|o| o == origin) {
                self.diags.push(invalid(
                    pointer,
                    format!("`{origin}` is listed twice (first at {base}/origins/{first})"),
                ));
            } else if origin == "*" {
                if cors.origins.len() > 1 {
                    self.diags.push(invalid(
                        pointer,
                        "`*` allows every origin: list it alone, or list origins without it",
                    ));
                }
            } else if let Err(message) = check_origin(origin) {
                self.diags.push(invalid(pointer, message));
            }
        }
        if cors.credentials && any {
            self.diags.push(invalid(
                format!("{base}/credentials"),
                "browsers refuse credentials from a route that allows any origin (`*`): \
                 list the origins",
            ));
        }
        for field in ["headers", "expose_headers"] {
            let names = if field == "headers" {
                &cors.headers
            } else {
                &cors.expose_headers
            };
            for (j, name) in names.iter().enumerate() {
                let pointer = format!("{base}/{field}/{j}");
                if name.is_empty() {
                    self.diags.push(invalid(pointer, "empty header name"));
                } else if !is_token(name) {
                    self.diags.push(invalid(
                        pointer,
                        format!(
                            "`{}` is not a header name: use letters, digits and \
                             ``!#$%&'*+-.^_`|~``",
                            name.escape_default()
                        ),
                    ));
                } else if let Some(first) =
                    names[..j].iter().position(|n| n.eq_ignore_ascii_case(name))
                {
                    self.diags.push(invalid(
                        pointer,
                        format!(
                            "`{name}` is listed twice (first at {base}/{field}/{first}; \
                             header names are case-insensitive)"
                        ),
                    ));
                }
            }
        }
        if let Some(secs) = cors.max_age_secs
            && secs > Cors::MAX_AGE_SECS
        {
            self.diags.push(invalid(
                format!("{base}/max_age_secs"),
                format!(
                    "must be at most {} (one day), got {secs}",
                    Cors::MAX_AGE_SECS
                ),
            ));
        }
    }

    /// Builds the flow's own route table and reports every conflicting pair
    /// at the later trigger's `path`.
    fn check_conflicts(&mut self, routes: Vec<Route<()>>) {
        let Err(conflicts) = RouteTable::build(routes) else {
            return;
        };
        let parsed = self.parsed;
        let describe = |position: &str| -> Option<(usize, String)> {
            let k: usize = position.parse().ok()?;
            let index = parsed.triggers.get(k)?.index;
            Some((index, parsed.doc.triggers.get(k)?.id_or_default(index)))
        };
        for c in conflicts {
            let (Some((second, second_id)), Some((first, first_id))) =
                (describe(&c.second.id), describe(&c.first.id))
            else {
                continue;
            };
            let methods = if c.methods.is_any() {
                "every method".to_string()
            } else {
                format!("{}", c.methods)
            };
            self.diags.push(Diagnostic::new(
                DiagnosticCode::RouteConflict,
                format!("/triggers/{second}/path"),
                format!(
                    "trigger `{second_id}` ({}) conflicts with trigger `{first_id}` at \
                     /triggers/{first} ({}): both answer {methods} on the same paths",
                    c.second.pattern, c.first.pattern
                ),
            ));
        }
    }
}

/// Whether `origin` is a serialized origin: `scheme://host[:port]`, as
/// browsers send it in the `Origin` header.
fn check_origin(origin: &str) -> Result<(), String> {
    let example = "expected `scheme://host[:port]`, e.g. `https://app.example.com`";
    let url =
        url::Url::parse(origin).map_err(|_| format!("`{origin}` is not an origin: {example}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{origin}` is not an origin: the scheme is `http` or `https`"
        ));
    }
    let serialized = url.origin().ascii_serialization();
    if serialized != origin {
        return Err(format!(
            "`{origin}` is not an origin as browsers send it: write `{serialized}` \
             (lower-case, no default port, no path)"
        ));
    }
    Ok(())
}

/// RFC 9110 `token`: what a header name is made of.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(check_origin("https://app.example.com").is_ok());
        assert!(check_origin("http://localhost:5173").is_ok());
        let e = check_origin("https://App.example.com/").unwrap_err();
        assert!(e.contains("write `https://app.example.com`"), "{e}");
        let e = check_origin("https://app.example.com:443").unwrap_err();
        assert!(e.contains("write `https://app.example.com`"), "{e}");
        assert!(check_origin("app.example.com").is_err());
        assert!(check_origin("ftp://example.com").is_err());
        assert!(check_origin("null").is_err());
    }

    #[test]
    fn header_tokens() {
        assert!(is_token("content-type"));
        assert!(is_token("X-Run-Id"));
        assert!(!is_token(""));
        assert!(!is_token("content type"));
        assert!(!is_token("a:b"));
    }
}
