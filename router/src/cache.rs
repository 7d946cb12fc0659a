//! [`RouteCache`]: compiled route tables per (project, stage), shared by a
//! router's request handlers, each stamped with the stage's routes version
//! it was built from.
//!
//! The store bumps a stage's routes version on every publish and unpublish
//! (and on PostgreSQL announces it). A router keeps the tables it has
//! built here; when it learns of a change (a notification, or a version
//! check) it [invalidates](RouteCache::invalidate) the stage, and the next
//! request builds the table again. [`RouteCache::put`] never replaces a
//! table with one built from an older version, so a slow rebuild racing a
//! newer one cannot bring stale routes back.

use std::sync::Arc;

use dashmap::DashMap;

use crate::table::RouteTable;

/// A stage's table and the routes version it was built from.
#[derive(Debug)]
pub struct Cached<T> {
    pub version: i64,
    pub table: RouteTable<T>,
}

/// Route tables by (project, stage).
#[derive(Debug)]
pub struct RouteCache<T> {
    tables: DashMap<(String, String), Arc<Cached<T>>>,
}

impl<T> Default for RouteCache<T> {
    fn default() -> Self {
        RouteCache {
            tables: DashMap::new(),
        }
    }
}

impl<T> RouteCache<T> {
    /// The table of (project, stage), if one is held.
    pub fn get(&self, project: &str, stage: &str) -> Option<Arc<Cached<T>>> {
        // DashMap looks up by the owned key type; the two small strings
        // are the price of a tuple key.
        self.tables
            .get(&(project.to_string(), stage.to_string()))
            .map(|c| c.clone())
    }

    /// Holds `table`, built from routes version `version`, unless a table
    /// from a newer version is already held. Returns the table now held.
    pub fn put(
        &self,
        project: &str,
        stage: &str,
        version: i64,
        table: RouteTable<T>,
    ) -> Arc<Cached<T>> {
        let fresh = Arc::new(Cached { version, table });
        let mut entry = self
            .tables
            .entry((project.to_string(), stage.to_string()))
            .or_insert_with(|| fresh.clone());
        if entry.version < version {
            *entry = fresh;
        }
        entry.clone()
    }

    /// Forgets the table of (project, stage): the next request rebuilds it.
    pub fn invalidate(&self, project: &str, stage: &str) {
        self.tables
            .remove(&(project.to_string(), stage.to_string()));
    }

    /// Forgets every table (after a lost notification connection, say).
    pub fn clear(&self) {
        self.tables.clear();
    }

    /// How many tables are held.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
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
}
