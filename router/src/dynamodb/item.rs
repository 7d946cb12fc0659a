//! The table's items: their keys, and [`RouteRecord`]s to and from
//! DynamoDB attribute maps, as the schema in [`super`] describes them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use thiserror::Error;
use weft_editor_protocol::trigger::{Cors, HttpAuth, HttpTrigger, TriggerMode};

use super::STORE;
use crate::store::{RouteRecord, RouteStoreError};

/// An item, or an item's key, as the SDK holds it.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) const PK: &str = "pk";
pub(super) const SK: &str = "sk";
/// The sort key of a stage's version item.
pub(super) const VERSION_SK: &str = "#version";
/// The start of a route item's sort key.
pub(super) const ROUTE_PREFIX: &str = "route#";
pub(super) const ROUTES_VERSION: &str = "routes_version";

const FLOW: &str = "flow";
const TRIGGER: &str = "trigger";
const ID: &str = "id";
const VERSION: &str = "version";
const METHODS: &str = "methods";
const PATTERN: &str = "pattern";
const AUTH: &str = "auth";
const MODES: &str = "modes";
const CORS: &str = "cors";

/// The partition key of (project, stage): `{project}#{stage}`.
pub(super) fn stage_pk(project: &str, stage: &str) -> String {
    format!("{project}#{stage}")
}

/// `project/stage`, for messages, from a partition key.
pub(super) fn stage_name(pk: &str) -> String {
    pk.replacen('#', "/", 1)
}

/// The sort key of a route item: `route#{flow}#{trigger}`.
pub(super) fn route_sk(flow: &str, trigger: &str) -> String {
    format!("{ROUTE_PREFIX}{flow}#{trigger}")
}

/// The key of the item (`pk`, `sk`).
pub(super) fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(pk.to_string())),
        (SK.to_string(), AttributeValue::S(sk.to_string())),
    ])
}

/// The version item of stage `pk`, at `version`.
pub(super) fn version_item(pk: &str, version: i64) -> Item {
    let mut item = key(pk, VERSION_SK);
    item.insert(ROUTES_VERSION.into(), number_value(version));
    item
}

pub(super) fn string_value(s: &str) -> AttributeValue {
    AttributeValue::S(s.to_string())
}

pub(super) fn number_value(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The route item of `record` on stage `pk`, written by the sync of
/// routes version `routes_version`.
pub(super) fn route_item(
    pk: &str,
    record: &RouteRecord,
    routes_version: i64,
) -> Result<Item, ItemError> {
    let http = &record.http;
    let text = |s: &str| AttributeValue::S(s.to_string());
    let list = |items: Vec<AttributeValue>| AttributeValue::L(items);
    let mut item = key(pk, &route_sk(&record.flow, &record.trigger));
    item.insert(FLOW.into(), text(&record.flow));
    item.insert(TRIGGER.into(), text(&record.trigger));
    if let Some(id) = &http.id {
        item.insert(ID.into(), text(id));
    }
    item.insert(VERSION.into(), text(&record.version));
    let methods = http.methods.iter().map(|m| text(m)).collect();
    item.insert(METHODS.into(), list(methods));
    item.insert(PATTERN.into(), text(&http.path));
    item.insert(AUTH.into(), text(http.auth.as_str()));
    let modes = http.modes.iter().map(|m| text(m.as_str())).collect();
    item.insert(MODES.into(), list(modes));
    if let Some(cors) = &http.cors {
        let json = serde_json::to_string(cors).map_err(|e| ItemError::Invalid {
            attr: CORS,
            message: e.to_string(),
        })?;
        item.insert(CORS.into(), text(&json));
    }
    item.insert(ROUTES_VERSION.into(), number_value(routes_version));
    Ok(item)
}

/// The record a route item holds.
pub(super) fn route_record(item: &Item) -> Result<RouteRecord, ItemError> {
    let auth = match string(item, AUTH)? {
        "public" => HttpAuth::Public,
        "api_key" => HttpAuth::ApiKey,
        other => return Err(invalid(AUTH, format!("unknown auth `{other}`"))),
    };
    let modes = strings(item, MODES)?
        .into_iter()
        .map(|mode| match mode.as_str() {
            "sync" => Ok(TriggerMode::Sync),
            "stream" => Ok(TriggerMode::Stream),
            "async" => Ok(TriggerMode::Async),
            other => Err(invalid(MODES, format!("unknown mode `{other}`"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cors = match item.get(CORS) {
        None => None,
        Some(AttributeValue::S(json)) => {
            Some(serde_json::from_str::<Cors>(json).map_err(|e| invalid(CORS, e.to_string()))?)
        }
        Some(_) => return Err(wrong_type(CORS, "a string")),
    };
    let id = match item.get(ID) {
        None => None,
        Some(AttributeValue::S(id)) => Some(id.clone()),
        Some(_) => return Err(wrong_type(ID, "a string")),
    };
    Ok(RouteRecord {
        flow: string(item, FLOW)?.to_string(),
        trigger: string(item, TRIGGER)?.to_string(),
        version: string(item, VERSION)?.to_string(),
        http: HttpTrigger {
            id,
            methods: strings(item, METHODS)?,
            path: string(item, PATTERN)?.to_string(),
            auth,
            modes,
            cors,
        },
    })
}

/// What is wrong with an item read back.
#[derive(Debug, Error)]
pub(super) enum ItemError {
    #[error("attribute `{0}` is missing")]
    Missing(&'static str),
    #[error("attribute `{attr}` is not {expected}")]
    WrongType {
        attr: &'static str,
        expected: &'static str,
    },
    #[error("attribute `{attr}` is invalid: {message}")]
    Invalid { attr: &'static str, message: String },
}

impl ItemError {
    /// As the store's error, naming the stage and the item.
    pub(super) fn corrupt(self, stage: &str, item: &Item) -> RouteStoreError {
        let key = |name| match item.get(name) {
            Some(AttributeValue::S(s)) => s.as_str(),
            _ => "?",
        };
        RouteStoreError::Corrupt {
            store: STORE,
            stage: stage.to_string(),
            message: format!("item pk=`{}` sk=`{}`: {self}", key(PK), key(SK)),
        }
    }
}

fn wrong_type(attr: &'static str, expected: &'static str) -> ItemError {
    ItemError::WrongType { attr, expected }
}

fn invalid(attr: &'static str, message: String) -> ItemError {
    ItemError::Invalid { attr, message }
}

/// String attribute `attr`.
pub(super) fn string<'a>(item: &'a Item, attr: &'static str) -> Result<&'a str, ItemError> {
    match item.get(attr) {
        Some(AttributeValue::S(s)) => Ok(s),
        Some(_) => Err(wrong_type(attr, "a string")),
        None => Err(ItemError::Missing(attr)),
    }
}

/// Number attribute `attr`, as an `i64`.
pub(super) fn number(item: &Item, attr: &'static str) -> Result<i64, ItemError> {
    match item.get(attr) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| invalid(attr, format!("`{n}` is not a 64-bit integer"))),
        Some(_) => Err(wrong_type(attr, "a number")),
        None => Err(ItemError::Missing(attr)),
    }
}

/// Attribute `attr`: a list of strings (L), or a string set (SS).
fn strings(item: &Item, attr: &'static str) -> Result<Vec<String>, ItemError> {
    const EXPECTED: &str = "a list of strings";
    match item.get(attr) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err(wrong_type(attr, EXPECTED)),
            })
            .collect(),
        Some(AttributeValue::Ss(values)) => Ok(values.clone()),
        Some(_) => Err(wrong_type(attr, EXPECTED)),
        None => Err(ItemError::Missing(attr)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record() -> RouteRecord {
        serde_json::from_value(serde_json::json!({
            "flow": "hello", "trigger": "greet", "version": "v1",
            "http": {"id": "greet", "methods": ["GET", "POST"], "path": "/hello/{name}",
                     "auth": "public", "modes": ["sync", "async"],
                     "cors": {"origins": ["https://a.example"], "max_age_secs": 60}}
        }))
        .unwrap()
    }

    #[test]
    fn records_round_trip_and_bad_attributes_are_named() {
        let item = route_item("p#prod", &record(), 3).unwrap();
        assert_eq!(string(&item, SK).unwrap(), "route#hello#greet");
        assert_eq!(number(&item, ROUTES_VERSION).unwrap(), 3);
        assert_eq!(route_record(&item).unwrap(), record());

        let mut bad = item.clone();
        bad.insert(METHODS.into(), AttributeValue::N("1".into()));
        let err = route_record(&bad).unwrap_err().corrupt("p/prod", &bad);
        let text = err.to_string();
        assert!(
            text.contains("`methods` is not a list of strings"),
            "{text}"
        );
        assert!(
            text.contains("pk=`p#prod` sk=`route#hello#greet`"),
            "{text}"
        );

        let mut bad = item;
        bad.remove(PATTERN);
        let err = route_record(&bad).unwrap_err();
        assert_eq!(err.to_string(), "attribute `pattern` is missing");
        // A string set is read as well as a list.
        let mut set = route_item("p#prod", &record(), 3).unwrap();
        set.insert(METHODS.into(), AttributeValue::Ss(vec!["GET".into()]));
        assert_eq!(route_record(&set).unwrap().http.methods, ["GET"]);
    }
}
