//! [`RouteCache`]: compiled route tables per (project, stage), shared by a
//! router's request handlers, each stamped with the stage's routes version
//! it was built from.
//!
//! The store bumps a stage's routes version on every publish and unpublish
//! (and on PostgreSQL announces it). A router keeps the tables it has
//! built here; when it learns of a change it drops the stage's table, and
//! the next request builds it again:
//! - [`RouteCache::advance`]: a notification names the new version;
//! - [`RouteCache::invalidate`]: this process changed the routes;
//! - [`RouteCache::revalidate`]: a version check of every stage held, in
//!   one [`RouteStore::versions`] call (for stores that cannot notify, and
//!   after a lost notification connection).
//!
//! The cache remembers the newest version heard of per stage, and
//! [`RouteCache::put`] never keeps a table built from an older one: a slow
//! rebuild racing a change cannot bring stale routes back.

use std::sync::Arc;

use dashmap::DashMap;

use crate::store::{RouteStore, RouteStoreError, StageKey};
use crate::table::RouteTable;

/// A stage's table and the routes version it was built from.
#[derive(Debug)]
pub struct Cached<T> {
    pub version: i64,
    pub table: RouteTable<T>,
}

/// What the cache knows of a stage.
#[derive(Debug)]
struct Slot<T> {
    /// The newest routes version heard of (from a notification, a version
    /// check or a build): a table older than this is never held.
    newest: i64,
    table: Option<Arc<Cached<T>>>,
}

/// Route tables by (project, stage).
#[derive(Debug)]
pub struct RouteCache<T> {
    slots: DashMap<StageKey, Slot<T>>,
}

impl<T> Default for RouteCache<T> {
    fn default() -> Self {
        RouteCache {
            slots: DashMap::new(),
        }
    }
}

impl<T> RouteCache<T> {
    /// The table of (project, stage), if one is held.
    pub fn get(&self, project: &str, stage: &str) -> Option<Arc<Cached<T>>> {
        // DashMap looks up by the owned key type; the two small strings
        // are the price of a tuple key.
        self.slots
            .get(&(project.to_string(), stage.to_string()))
            .and_then(|slot| slot.table.clone())
    }

    /// Holds `table`, built from routes version `version`, unless a table
    /// from a newer version is held or a newer version has been heard of.
    /// Returns the table to answer with: the one held, or `table` itself
    /// when it is already out of date (the request that built it started
    /// before the change; the next one builds again).
    pub fn put(
        &self,
        project: &str,
        stage: &str,
        version: i64,
        table: RouteTable<T>,
    ) -> Arc<Cached<T>> {
        let fresh = Arc::new(Cached { version, table });
        let mut slot = self
            .slots
            .entry((project.to_string(), stage.to_string()))
            .or_insert(Slot {
                newest: version,
                table: None,
            });
        if version >= slot.newest {
            slot.newest = version;
            if slot
                .table
                .as_ref()
                .is_none_or(|held| held.version < version)
            {
                slot.table = Some(fresh.clone());
            }
        }
        match &slot.table {
            Some(held) if held.version >= version => held.clone(),
            _ => fresh,
        }
    }

    /// The routes of (project, stage) changed, to an unknown version: the
    /// next request rebuilds the table, and a build from the version held
    /// until now (one already under way) is not kept.
    pub fn invalidate(&self, project: &str, stage: &str) {
        let key = (project.to_string(), stage.to_string());
        if let Some(mut slot) = self.slots.get_mut(&key)
            && let Some(held) = slot.table.take()
        {
            slot.newest = slot.newest.max(held.version + 1);
        }
    }

    /// The routes of (project, stage) are now at `version` (a notification
    /// said so): a table older than that is dropped, and never kept again.
    pub fn advance(&self, project: &str, stage: &str, version: i64) {
        let mut slot = self
            .slots
            .entry((project.to_string(), stage.to_string()))
            .or_insert(Slot {
                newest: version,
                table: None,
            });
        slot.newest = slot.newest.max(version);
        if slot.table.as_ref().is_some_and(|t| t.version < version) {
            slot.table = None;
        }
    }

    /// Forgets every table (after a lost notification connection, say).
    pub fn clear(&self) {
        self.slots.clear();
    }

    /// The stages whose tables are held, with the version of each.
    pub fn held(&self) -> Vec<(StageKey, i64)> {
        self.slots
            .iter()
            .filter_map(|e| Some((e.key().clone(), e.value().table.as_ref()?.version)))
            .collect()
    }

    /// Asks `store` for the current routes version of every stage held
    /// (one [`RouteStore::versions`] call) and drops the tables that are
    /// out of date, or whose stage is gone. Returns the stages dropped.
    pub async fn revalidate(
        &self,
        store: &dyn RouteStore,
    ) -> Result<Vec<StageKey>, RouteStoreError> {
        let held = self.held();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<StageKey> = held.iter().map(|(k, _)| k.clone()).collect();
        let current = store.versions(&keys).await?;
        let mut dropped = Vec::new();
        for ((key, version), now) in held.into_iter().zip(current) {
            match now {
                Some(now) if now == version => {}
                Some(now) if now > version => {
                    self.advance(&key.0, &key.1, now);
                    dropped.push(key);
                }
                // Gone, or older than what was built (the store was
                // replaced): start again.
                _ => {
                    self.slots.remove(&key);
                    dropped.push(key);
                }
            }
        }
        Ok(dropped)
    }

    /// How many tables are held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|e| e.table.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Methods, Pattern, Route};

    fn table(target: u32) -> RouteTable<u32> {
        RouteTable::build(vec![Route {
            id: "r".into(),
            flow: "f".into(),
            methods: Methods::ANY,
            pattern: Pattern::parse("/x").unwrap(),
            target,
        }])
        .unwrap()
    }

    fn target(c: &Cached<u32>) -> u32 {
        c.table.routes()[0].target
    }

    #[test]
    fn newer_versions_win_and_invalidation_forgets() {
        let cache = RouteCache::default();
        assert!(cache.get("p", "prod").is_none());
        assert_eq!(target(&cache.put("p", "prod", 2, table(2))), 2);
        // A rebuild from an older version does not replace a newer table.
        let held = cache.put("p", "prod", 1, table(1));
        assert_eq!((held.version, target(&held)), (2, 2));
        assert_eq!(target(&cache.put("p", "prod", 3, table(3))), 3);
        assert_eq!(cache.get("p", "prod").unwrap().version, 3);
        // Stages are separate.
        cache.put("p", "dev", 1, table(9));
        assert_eq!(cache.len(), 2);
        cache.invalidate("p", "prod");
        assert!(cache.get("p", "prod").is_none());
        assert_eq!(target(&cache.get("p", "dev").unwrap()), 9);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_build_older_than_a_change_is_not_kept() {
        let cache = RouteCache::default();
        cache.put("p", "prod", 1, table(1));
        // This process published: the table goes, and a build from
        // version 1 that was under way is answered with but not kept.
        cache.invalidate("p", "prod");
        assert!(cache.get("p", "prod").is_none());
        assert_eq!(cache.put("p", "prod", 1, table(1)).version, 1);
        assert!(cache.get("p", "prod").is_none());
        assert_eq!(cache.put("p", "prod", 2, table(2)).version, 2);
        // A notification of version 4: 2 and 3 are stale from now on.
        cache.advance("p", "prod", 4);
        assert!(cache.get("p", "prod").is_none());
        cache.put("p", "prod", 3, table(3));
        assert!(cache.get("p", "prod").is_none());
        cache.put("p", "prod", 4, table(4));
        assert_eq!(cache.get("p", "prod").unwrap().version, 4);
        // A notification that is not news changes nothing.
        cache.advance("p", "prod", 4);
        assert_eq!(cache.get("p", "prod").unwrap().version, 4);
    }

    /// A store whose versions a test sets.
    #[derive(Debug, Default)]
    struct Versions(std::sync::Mutex<std::collections::HashMap<StageKey, i64>>);

    impl RouteStore for Versions {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn load<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> crate::store::StoreFuture<'a, Option<crate::store::StageRoutes>> {
            Box::pin(async { Ok(None) })
        }
        fn versions<'a>(
            &'a self,
            stages: &'a [StageKey],
        ) -> crate::store::StoreFuture<'a, Vec<Option<i64>>> {
            let map = self.0.lock().unwrap();
            let out = stages.iter().map(|k| map.get(k).copied()).collect();
            Box::pin(async move { Ok(out) })
        }
    }

    #[tokio::test]
    async fn revalidation_drops_what_changed_or_went() {
        let store = Versions::default();
        let key = |s: &str| ("p".to_string(), s.to_string());
        store
            .0
            .lock()
            .unwrap()
            .extend([(key("a"), 1), (key("b"), 5), (key("c"), 7)]);
        let cache = RouteCache::default();
        for (stage, v) in [("a", 1), ("b", 5), ("c", 7)] {
            cache.put("p", stage, v, table(0));
        }
        assert!(cache.revalidate(&store).await.unwrap().is_empty());
        store.0.lock().unwrap().insert(key("b"), 6);
        store.0.lock().unwrap().remove(&key("c"));
        let mut dropped = cache.revalidate(&store).await.unwrap();
        dropped.sort();
        assert_eq!(dropped, [key("b"), key("c")]);
        assert_eq!(cache.get("p", "a").unwrap().version, 1);
        assert!(cache.get("p", "b").is_none() && cache.get("p", "c").is_none());
        // Version 5 was heard to be stale: a late build of it is not kept.
        cache.put("p", "b", 5, table(0));
        assert!(cache.get("p", "b").is_none());
    }
}
