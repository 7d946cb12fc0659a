//! The process-wide cache of compiled regex constraints, by source: every
//! pattern (and every table) using the same source shares one compiled
//! [`Regex`], compiled once, with one set of match caches (a clone would
//! get its own).
//!
//! Bounded to [`MAX_INTERNED_REGEXES`] sources. When it is full, a new
//! source evicts the least recently used entry that no pattern holds any
//! more (the cache's `Arc` is its only reference); if every entry is still
//! held, the least recently used one (its patterns keep their copy, only
//! later parses stop sharing it). So memory stays bounded, and a new
//! source is always interned.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

/// How many compiled regexes [`REGEXES`] keeps.
pub(super) const MAX_INTERNED_REGEXES: usize = 4096;

/// The cache of the process, shared by every parser.
pub(super) static REGEXES: LazyLock<Mutex<RegexCache>> =
    LazyLock::new(|| Mutex::new(RegexCache::new(MAX_INTERNED_REGEXES)));

/// Compiled regexes by source, at most `capacity`, evicted as the module
/// documentation says.
#[derive(Debug)]
pub(super) struct RegexCache {
    capacity: usize,
    /// Counts uses, to find the least recently used entry.
    clock: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    regex: Arc<Regex>,
    /// The [`RegexCache::clock`] of its last use.
    used: u64,
}

impl RegexCache {
    pub(super) fn new(capacity: usize) -> RegexCache {
        RegexCache {
            capacity,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The regex compiled from `source`, if interned.
    pub(super) fn get(&mut self, source: &str) -> Option<Arc<Regex>> {
        let now = self.tick();
        let entry = self.entries.get_mut(source)?;
        entry.used = now;
        Some(entry.regex.clone())
    }

    /// Interns `regex`, compiled from `source`, evicting an entry if the
    /// cache is full; returns the regex to use (the one already interned
    /// if another parser got there first).
    pub(super) fn intern(&mut self, source: &str, regex: Arc<Regex>) -> Arc<Regex> {
        if let Some(interned) = self.get(source) {
            return interned;
        }
        if self.capacity == 0 {
            return regex;
        }
        if self.entries.len() >= self.capacity {
            self.evict();
        }
        let used = self.tick();
        self.entries.insert(
            source.to_string(),
            Entry {
                regex: regex.clone(),
                used,
            },
        );
        regex
    }

    /// Drops the least recently used entry no pattern holds, or else the
    /// least recently used one.
    fn evict(&mut self) {
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (Arc::strong_count(&e.regex) > 1, e.used))
            .map(|(source, _)| source.clone());
        if let Some(source) = victim {
            self.entries.remove(&source);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn contains(&self, source: &str) -> bool {
        self.entries.contains_key(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(source: &str) -> Arc<Regex> {
        Arc::new(Regex::new(source).unwrap())
    }

    #[test]
    fn full_cache_evicts_what_no_pattern_holds_first() {
        let mut cache = RegexCache::new(2);
        let a = cache.intern("a", compiled("a"));
        drop(cache.intern("b", compiled("b")));
        // `a` is the least recently used, but held; `b` is not.
        cache.intern("c", compiled("c"));
        assert_eq!(cache.len(), 2);
        assert!(cache.contains("a") && cache.contains("c"));
        assert!(!cache.contains("b"));
        assert!(Arc::ptr_eq(&a, &cache.get("a").unwrap()));
    }

    #[test]
    fn when_everything_is_held_the_least_recently_used_goes() {
        let mut cache = RegexCache::new(2);
        let a = cache.intern("a", compiled("a"));
        let b = cache.intern("b", compiled("b"));
        assert!(cache.get("a").is_some());
        let c = cache.intern("c", compiled("c"));
        assert!(cache.contains("a") && cache.contains("c"));
        assert!(!cache.contains("b"));
        // The evicted regex still works for its holders.
        assert!(b.is_match("b"));
        drop((a, c));
    }

    #[test]
    fn stays_bounded_and_keeps_interning_new_sources() {
        let mut cache = RegexCache::new(8);
        let mut held = Vec::new();
        for i in 0..100 {
            let source = format!("x{i}");
            let regex = cache.intern(&source, compiled(&source));
            assert!(cache.len() <= 8);
            // The newest source is interned and shared.
            let again = cache.intern(&source, compiled(&source));
            assert!(Arc::ptr_eq(&again, &regex), "{i}");
            if i % 3 == 0 {
                held.push(regex);
            }
        }
        assert_eq!(cache.len(), 8);
    }

    #[test]
    fn a_second_parser_gets_the_interned_regex() {
        let mut cache = RegexCache::new(4);
        let first = cache.intern("a+", compiled("a+"));
        let second = cache.intern("a+", compiled("a+"));
        assert!(Arc::ptr_eq(&first, &second));
        let mut none = RegexCache::new(0);
        let alone = none.intern("a+", compiled("a+"));
        assert_eq!(none.len(), 0);
        assert!(alone.is_match("aa"));
    }
}
