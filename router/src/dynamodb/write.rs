//! Writing stages: [`DynamoRoutes::sync_stage`] and
//! [`DynamoRoutes::remove_stage`] (the rules are in [`super`]'s header).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, WriteRequest,
};

use super::item::{self, Item, ROUTE_PREFIX, ROUTES_VERSION, SK, VERSION_SK};
use super::{BATCH_RETRIES, DynamoRoutes, built, refused, unavailable};
use crate::store::{RouteStoreError, StageRoutes};

/// Actions per TransactWriteItems (DynamoDB's limit).
const TRANSACTION_ACTIONS: usize = 100;
/// Requests per BatchWriteItem (DynamoDB's limit).
const WRITE_BATCH: usize = 25;
/// Reads and writes of a stage that keeps changing before a sync gives up.
const SYNC_ATTEMPTS: u32 = 10;

/// A stage's version and route items, as a sync reads them first.
#[derive(Debug, Default)]
struct Current {
    version: Option<i64>,
    route_sks: Vec<String>,
}

/// How a write of the version item went.
#[derive(Debug, PartialEq)]
enum Outcome {
    Written,
    /// The version item no longer held the version read first.
    Changed,
}

impl DynamoRoutes {
    /// Makes the items of (project, stage) equal `routes`, if the stored
    /// routes version is older than `routes.version` (or there is none).
    /// Returns `false`, having changed nothing, when the stored version is
    /// as new or newer. Two records of one flow and trigger are refused.
    pub async fn sync_stage(
        &self,
        project: &str,
        stage: &str,
        routes: &StageRoutes,
    ) -> Result<bool, RouteStoreError> {
        let pk = item::stage_pk(project, stage);
        let name = format!("{project}/{stage}");
        let mut puts: BTreeMap<String, Item> = BTreeMap::new();
        for record in &routes.routes {
            let what = || {
                format!(
                    "stage `{name}`, flow `{}`, trigger `{}`",
                    record.flow, record.trigger
                )
            };
            let it = item::route_item(&pk, record, routes.version)
                .map_err(|e| refused(format!("{}: {e}", what())))?;
            if puts
                .insert(item::route_sk(&record.flow, &record.trigger), it)
                .is_some()
            {
                return Err(refused(format!("{}: given twice", what())));
            }
        }
        let mut batches_written = false;
        for attempt in 1..=SYNC_ATTEMPTS {
            let current = self.current(&pk, &name).await?;
            if let Some(stored) = current.version.filter(|v| *v >= routes.version) {
                if batches_written {
                    return Err(refused(format!(
                        "stage `{name}`: routes version {stored} was written while this sync of \
                         version {} wrote its route items in batches, so they may mix both: sync \
                         the stage again with a newer version",
                        routes.version
                    )));
                }
                return Ok(false);
            }
            let deletes: Vec<&str> = (current.route_sks.iter())
                .map(String::as_str)
                .filter(|sk| !puts.contains_key(*sk))
                .collect();
            let outcome = if puts.len() + deletes.len() < TRANSACTION_ACTIONS {
                self.transact(&pk, &puts, &deletes, routes.version, current.version)
                    .await?
            } else {
                batches_written = true;
                let requests = puts
                    .values()
                    .map(|it| put_request(it.clone()))
                    .chain(deletes.iter().map(|sk| delete_request(&pk, sk)))
                    .collect::<Result<Vec<_>, RouteStoreError>>()?;
                for batch in requests.chunks(WRITE_BATCH) {
                    self.write_batch(batch.to_vec()).await?;
                }
                self.put_version(&pk, routes.version, current.version)
                    .await?
            };
            if outcome == Outcome::Written {
                return Ok(true);
            }
            if attempt < SYNC_ATTEMPTS {
                self.backoff(attempt).await;
            }
        }
        Err(refused(format!(
            "stage `{name}` changed during each of {SYNC_ATTEMPTS} attempts to sync it"
        )))
    }

    /// Deletes every item of (project, stage), the version item first (so
    /// that readers see no stage at once). Returns how many there were.
    pub async fn remove_stage(&self, project: &str, stage: &str) -> Result<usize, RouteStoreError> {
        let pk = item::stage_pk(project, stage);
        let name = format!("{project}/{stage}");
        let items = self.query_stage(&pk, Some("pk, sk")).await?;
        let mut sks = Vec::with_capacity(items.len());
        for it in &items {
            sks.push(item::string(it, SK).map_err(|e| e.corrupt(&name, it))?);
        }
        if sks.contains(&VERSION_SK) {
            self.client
                .delete_item()
                .table_name(self.table())
                .set_key(Some(item::key(&pk, VERSION_SK)))
                .send()
                .await
                .map_err(|e| unavailable(format!("removing stage `{name}`"), e))?;
        }
        let requests = (sks.iter())
            .filter(|sk| **sk != VERSION_SK)
            .map(|sk| delete_request(&pk, sk))
            .collect::<Result<Vec<_>, _>>()?;
        for batch in requests.chunks(WRITE_BATCH) {
            self.write_batch(batch.to_vec()).await?;
        }
        Ok(items.len())
    }

    /// The stage's version and the sort keys of its route items.
    async fn current(&self, pk: &str, name: &str) -> Result<Current, RouteStoreError> {
        let items = self.query_stage(pk, Some("pk, sk, routes_version")).await?;
        let mut current = Current::default();
        for it in &items {
            let sk = item::string(it, SK).map_err(|e| e.corrupt(name, it))?;
            if sk == VERSION_SK {
                let v = item::number(it, ROUTES_VERSION).map_err(|e| e.corrupt(name, it))?;
                current.version = Some(v);
            } else if sk.starts_with(ROUTE_PREFIX) {
                current.route_sks.push(sk.to_string());
            }
        }
        Ok(current)
    }

    /// The whole change in one transaction, the version item last.
    async fn transact(
        &self,
        pk: &str,
        puts: &BTreeMap<String, Item>,
        deletes: &[&str],
        version: i64,
        seen: Option<i64>,
    ) -> Result<Outcome, RouteStoreError> {
        let mut actions = Vec::with_capacity(puts.len() + deletes.len() + 1);
        for it in puts.values() {
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(it.clone()));
            actions.push(TransactWriteItem::builder().put(built(put.build())?));
        }
        for sk in deletes {
            let delete = Delete::builder()
                .table_name(self.table())
                .set_key(Some(item::key(pk, sk)));
            actions.push(TransactWriteItem::builder().delete(built(delete.build())?));
        }
        let (condition, values) = unchanged(seen);
        let version_put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item::version_item(pk, version)))
            .condition_expression(condition)
            .set_expression_attribute_values(values);
        actions.push(TransactWriteItem::builder().put(built(version_put.build())?));
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions.into_iter().map(|a| a.build()).collect()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Outcome::Written),
            Err(e) => match e.as_service_error() {
                // Cancelled because the version item changed, or another
                // transaction was writing the stage: read it again.
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons().iter().all(|r| {
                        matches!(
                            r.code(),
                            None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Ok(Outcome::Changed)
                }
                _ => Err(unavailable(
                    format!("writing stage `{}`", item::stage_name(pk)),
                    e,
                )),
            },
        }
    }

    /// The version item alone, after the route items were written in
    /// batches.
    async fn put_version(
        &self,
        pk: &str,
        version: i64,
        seen: Option<i64>,
    ) -> Result<Outcome, RouteStoreError> {
        let (condition, values) = unchanged(seen);
        let sent = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item::version_item(pk, version)))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Outcome::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Outcome::Changed)
            }
            Err(e) => Err(unavailable(
                format!("writing the version of stage `{}`", item::stage_name(pk)),
                e,
            )),
        }
    }

    /// One BatchWriteItem (at most 25 requests), retrying what DynamoDB
    /// leaves unprocessed.
    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<(), RouteStoreError> {
        for attempt in 1..=BATCH_RETRIES + 1 {
            let out = self
                .client
                .batch_write_item()
                .request_items(self.table(), requests)
                .send()
                .await
                .map_err(|e| unavailable("writing route items".to_string(), e))?;
            requests = (out.unprocessed_items())
                .and_then(|u| u.get(self.table()))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            if attempt <= BATCH_RETRIES {
                self.backoff(attempt).await;
            }
        }
        Err(refused(format!(
            "writing route items: {} still unprocessed after {BATCH_RETRIES} retries",
            requests.len()
        )))
    }
}

/// The condition that the version item still holds `seen` (or, for
/// `None`, that there is none), with its values: the stored version is
/// then older than the one written, which the caller checked.
fn unchanged(seen: Option<i64>) -> (&'static str, Option<HashMap<String, AttributeValue>>) {
    match seen {
        None => ("attribute_not_exists(routes_version)", None),
        Some(seen) => (
            "routes_version = :seen",
            Some(HashMap::from([(":seen".into(), item::number_value(seen))])),
        ),
    }
}

fn put_request(it: Item) -> Result<WriteRequest, RouteStoreError> {
    let put = PutRequest::builder().set_item(Some(it));
    Ok(WriteRequest::builder()
        .put_request(built(put.build())?)
        .build())
}

fn delete_request(pk: &str, sk: &str) -> Result<WriteRequest, RouteStoreError> {
    let delete = DeleteRequest::builder().set_key(Some(item::key(pk, sk)));
    Ok(WriteRequest::builder()
        .delete_request(built(delete.build())?)
        .build())
}
