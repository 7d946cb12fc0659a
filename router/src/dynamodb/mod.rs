//! [`DynamoRoutes`]: a [`RouteStore`] in one DynamoDB table (the `dynamodb`
//! feature). It owns the table's schema, creating the table
//! ([`DynamoRoutes::ensure_table`]), reading stages ([`RouteStore`]) and
//! writing them ([`DynamoRoutes::sync_stage`],
//! [`DynamoRoutes::remove_stage`], in `write`); `item` maps records to
//! items and back.
//!
//! ## Schema
//! Key: partition key `pk` (S), sort key `sk` (S); billed per request.
//! Each stage is one partition, `pk` = `{project}#{stage}` (project and
//! stage slugs never hold `#`), with two kinds of item:
//! - a **route item** per [`RouteRecord`]: `sk` = `route#{flow}#{trigger}`
//!   (trigger ids never hold `#`), and
//!   - `flow` (S), `trigger` (S): the record's flow and trigger id;
//!   - `id` (S): the trigger's `id` as the flow writes it, absent when the
//!     flow leaves it to the default (`http-0`), so that the record reads
//!     back as it was written;
//!   - `version` (S): the id of the flow version the route runs;
//!   - `methods` (L of S; an SS is read too), `pattern` (S: the path),
//!     `auth` (S: `public` | `api_key`), `modes` (L of S);
//!   - `cors` (S): the trigger's CORS object as JSON, absent when none;
//!   - `routes_version` (N): the routes version that wrote the item;
//! - the stage's **version item**: `sk` = `#version`, `routes_version` (N).
//!
//! Reading a stage is one strongly consistent Query on its `pk` (paged past
//! 1 MB); a stage without a version item does not exist. Other `sk`s are
//! left alone, for items a later Weft may add. Routers' version checks read
//! the version items with BatchGetItem, 100 per request.
//!
//! ## Writes
//! [`DynamoRoutes::sync_stage`] makes a stage's items equal a
//! [`StageRoutes`]: it reads the stage's keys and version, gives up
//! (`false`, nothing written) unless the stored version is older than the
//! new one, then puts every route item, deletes the ones no longer
//! present and writes the version item, on condition that the version item
//! still holds the version read (`attribute_not_exists(routes_version)` or
//! `routes_version = :seen`): so it is written only over an older version,
//! and a change in between (which could have added items this sync does
//! not know to delete) makes the sync read again and start over.
//! - Up to 100 actions (99 route items and deletes): one
//!   TransactWriteItems, so readers see the old stage or the new one.
//! - More: the route items in BatchWriteItem batches of 25 (puts, then
//!   deletes), then the version item. Readers can then briefly see a mix
//!   (new routes beside ones not yet deleted, under the old version
//!   number), which a router's next version check replaces once the
//!   version item is written. Two such syncs of one stage at once are not
//!   isolated from each other: run a stage's syncs from one place at a
//!   time (a sync overtaken by a newer one while writing says so with an
//!   error).

mod item;
mod write;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    AsyncSleep, BehaviorVersion, Credentials, Region, SharedHttpClient,
};
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    ScalarAttributeType, TableStatus,
};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use self::item::{Item, PK, ROUTE_PREFIX, ROUTES_VERSION, SK, VERSION_SK};
use crate::store::{RouteRecord, RouteStore, RouteStoreError, StageKey, StageRoutes, StoreFuture};

/// [`RouteStore::kind`] and the `store` of its errors.
pub const STORE: &str = "dynamodb";

/// Keys per BatchGetItem request (DynamoDB's limit).
const GET_BATCH: usize = 100;
/// Retries of a batch's unprocessed keys or items before giving up.
const BATCH_RETRIES: u32 = 8;
/// How long [`DynamoRoutes::ensure_table`] waits for a new table.
const TABLE_WAIT: Duration = Duration::from_secs(120);

/// Routes in a DynamoDB table (the schema is in the module's header).
/// Cloning shares the client.
#[derive(Debug, Clone)]
pub struct DynamoRoutes {
    client: Client,
    table: String,
}

/// The HTTPS client of [`DynamoRoutes::connect`] and
/// [`DynamoRoutes::with_credentials`] (hyper with rustls on *ring*,
/// trusting the system's roots), for callers building their own
/// [`Client`] for [`DynamoRoutes::from_client`].
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Timeouts for a router's store: fail fast rather than hold requests.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

impl DynamoRoutes {
    /// The store over `client`, in table `table`.
    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        DynamoRoutes {
            client,
            table: table.into(),
        }
    }

    /// The store in `table`, with the standard AWS configuration and
    /// credential chain (environment, profile, web identity, ECS, IMDS).
    /// `region` and `endpoint_url` override the configured ones
    /// (`endpoint_url` for DynamoDB Local or moto).
    pub async fn connect(
        table: impl Into<String>,
        region: Option<&str>,
        endpoint_url: Option<&str>,
    ) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .timeout_config(timeouts());
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_string()));
        }
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        Self::from_client(Client::new(&config), table)
    }

    /// The store in `table` at `endpoint_url` (DynamoDB Local, moto) or, if
    /// `None`, the region's endpoint, signing with the given keys rather
    /// than the credential chain.
    pub fn with_credentials(
        table: impl Into<String>,
        region: &str,
        endpoint_url: Option<&str>,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Self {
        let credentials = Credentials::new(access_key_id, secret_access_key, None, None, "weft");
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http_client())
            .timeout_config(timeouts())
            .region(Region::new(region.to_string()))
            .credentials_provider(credentials);
        if let Some(url) = endpoint_url {
            config = config.endpoint_url(url);
        }
        Self::from_client(Client::from_conf(config.build()), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table if it does not exist (`pk` S hash key, `sk` S
    /// range key, billed per request) and waits until it is ACTIVE. An
    /// existing table with other keys is an error.
    pub async fn ensure_table(&self) -> Result<(), RouteStoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                let table = out.table();
                let keys: Vec<(&str, &KeyType)> = table
                    .map(|t| t.key_schema())
                    .unwrap_or_default()
                    .iter()
                    .map(|k| (k.attribute_name(), k.key_type()))
                    .collect();
                if keys != [(PK, &KeyType::Hash), (SK, &KeyType::Range)] {
                    return Err(refused(format!(
                        "table `{}` exists with key schema {keys:?}, not `pk` (HASH) and \
                         `sk` (RANGE)",
                        self.table
                    )));
                }
                if table.and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                    return Ok(());
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.create_table().await?;
            }
            Err(e) => {
                let context = format!("describing table `{}`", self.table);
                return Err(unavailable(context, e));
            }
        }
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(TABLE_WAIT)
            .await
            .map_err(|e| unavailable(format!("waiting for table `{}`", self.table), e))?;
        Ok(())
    }

    async fn create_table(&self) -> Result<(), RouteStoreError> {
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let string = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(built(key(PK, KeyType::Hash))?)
            .key_schema(built(key(SK, KeyType::Range))?)
            .attribute_definitions(built(string(PK))?)
            .attribute_definitions(built(string(SK))?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Created meanwhile by another process: wait for it as well.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(format!("creating table `{}`", self.table), e)),
        }
    }

    /// Every item of stage `pk` (only `projection`'s attributes if given),
    /// by `sk`, in one strongly consistent Query (paged).
    async fn query_stage(
        &self,
        pk: &str,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, RouteStoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", item::string_value(pk))
                .consistent_read(true)
                .set_projection_expression(projection.map(str::to_string))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    let context = format!("reading stage `{}`", item::stage_name(pk));
                    unavailable(context, e)
                })?;
            start = out.last_evaluated_key().cloned();
            items.extend(out.items.unwrap_or_default());
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Sleeps before retry `attempt` (1-based) of unprocessed work or of a
    /// sync whose stage changed: up to 50 ms doubling, at most 2 s, the
    /// upper half at random so that writers that collided part.
    async fn backoff(&self, attempt: u32) {
        if let Some(sleep) = self.client.config().sleep_impl() {
            let cap = (25u64 << attempt.min(7)).min(2_000);
            let jitter = RandomState::new().hash_one(attempt) % (cap / 2 + 1);
            sleep.sleep(Duration::from_millis(cap / 2 + jitter)).await;
        }
    }
}

impl RouteStore for DynamoRoutes {
    fn kind(&self) -> &'static str {
        STORE
    }

    fn is_mirror(&self) -> bool {
        true
    }

    fn sync<'a>(
        &'a self,
        project: &'a str,
        stage: &'a str,
        routes: &'a StageRoutes,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.sync_stage(project, stage, routes))
    }

    fn load<'a>(
        &'a self,
        project: &'a str,
        stage: &'a str,
    ) -> StoreFuture<'a, Option<StageRoutes>> {
        Box::pin(async move {
            let name = format!("{project}/{stage}");
            let items = self
                .query_stage(&item::stage_pk(project, stage), None)
                .await?;
            let mut version = None;
            let mut routes: Vec<RouteRecord> = Vec::new();
            for it in &items {
                let sk = item::string(it, SK).map_err(|e| e.corrupt(&name, it))?;
                if sk == VERSION_SK {
                    let v = item::number(it, ROUTES_VERSION).map_err(|e| e.corrupt(&name, it))?;
                    version = Some(v);
                } else if sk.starts_with(ROUTE_PREFIX) {
                    routes.push(item::route_record(it).map_err(|e| e.corrupt(&name, it))?);
                }
            }
            let Some(version) = version else {
                return Ok(None);
            };
            routes.sort_by(|a, b| (&a.flow, &a.trigger).cmp(&(&b.flow, &b.trigger)));
            Ok(Some(StageRoutes { version, routes }))
        })
    }

    fn versions<'a>(&'a self, stages: &'a [StageKey]) -> StoreFuture<'a, Vec<Option<i64>>> {
        Box::pin(async move {
            let pks: Vec<String> = stages.iter().map(|(p, s)| item::stage_pk(p, s)).collect();
            // A batch may not name a key twice.
            let mut unique: Vec<&str> = pks.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            let mut found: HashMap<String, i64> = HashMap::with_capacity(unique.len());
            for batch in unique.chunks(GET_BATCH) {
                let keys = batch.iter().map(|pk| item::key(pk, VERSION_SK)).collect();
                self.get_versions(keys, &mut found).await?;
            }
            Ok(pks.iter().map(|pk| found.get(pk).copied()).collect())
        })
    }
}

impl DynamoRoutes {
    /// The `routes_version` of the version items `keys` (at most 100),
    /// into `found` by `pk`; retries the keys DynamoDB leaves unprocessed.
    async fn get_versions(
        &self,
        mut keys: Vec<Item>,
        found: &mut HashMap<String, i64>,
    ) -> Result<(), RouteStoreError> {
        let context = "reading routes versions";
        for attempt in 1..=BATCH_RETRIES + 1 {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .projection_expression("pk, sk, routes_version")
                .build();
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, built(request)?)
                .send()
                .await
                .map_err(|e| unavailable(context.to_string(), e))?;
            let items = out.responses().and_then(|r| r.get(&self.table));
            for it in items.into_iter().flatten() {
                let pk = item::string(it, PK).map_err(|e| e.corrupt("?", it))?;
                let version = item::number(it, ROUTES_VERSION)
                    .map_err(|e| e.corrupt(&item::stage_name(pk), it))?;
                found.insert(pk.to_string(), version);
            }
            keys = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(());
            }
            if attempt <= BATCH_RETRIES {
                self.backoff(attempt).await;
            }
        }
        Err(refused(format!(
            "{context}: {} keys still unprocessed after {BATCH_RETRIES} retries",
            keys.len()
        )))
    }
}

/// An SDK error, with its whole chain of causes.
fn unavailable(context: String, e: impl std::error::Error) -> RouteStoreError {
    RouteStoreError::Unavailable {
        store: STORE,
        message: format!("{context}: {}", DisplayErrorContext(&e)),
    }
}

/// A request the store or this module will not carry out.
fn refused(message: String) -> RouteStoreError {
    RouteStoreError::Unavailable {
        store: STORE,
        message,
    }
}

/// A request part built, or why not (a bug here: required fields unset).
fn built<T>(part: Result<T, BuildError>) -> Result<T, RouteStoreError> {
    part.map_err(|e| refused(format!("building a request: {e}")))
}
