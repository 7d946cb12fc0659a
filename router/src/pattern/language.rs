//! Typed segments as automata: the regular language of each type, and
//! whether languages share a text that a request segment can be. Used by
//! `overlap` (route conflicts), at build and publish time only.
//!
//! ## Languages
//! `int` is [`int_regex`] (`-?[0-9]+` within `i64`, leading zeros
//! allowed, exactly as [`crate::params::parse_int`] reads it), `uuid` is
//! [`UUID_REGEX`], a regex constraint is `^(?:RE)$` with the syntax
//! options the router matches it with (the `regex` crate's defaults).
//! Each becomes an anchored dense DFA (`regex-automata`). Only texts a
//! request segment can decode to count ([`Valid`]: non-empty, no `.` or
//! `..` between decoded `%2F`s, see [`crate::path`]).
//!
//! ## Intersections
//! - [`intersect`]: two languages, on the product of their DFAs and
//!   [`Valid`], explored breadth first from the start states over one byte
//!   per class of bytes all three treat alike; a reachable state where all
//!   three accept is a common text.
//! - [`shared`]: many languages at once, on one DFA of all of them (each
//!   of its states knows which languages accept the text read so far),
//!   explored the same way: every reachable accepting state names
//!   languages that share a text. Far cheaper than every pair apart.
//!
//! ## Bounds
//! A DFA past its size limit, more states explored than allowed, or a
//! Unicode `\b` meeting non-ASCII text (the DFA gives up there) end a test
//! without an answer ([`Verdict::GaveUp`], `None`); the caller decides
//! what that means. The length limit of request paths is not taken into
//! account.

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasherDefault;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

use super::parser::REGEX_SIZE_LIMIT;
use crate::trie::FxHasher;

/// The largest DFA of one language (and its determinization), in bytes.
const DFA_SIZE_LIMIT: usize = 1 << 20;
/// The largest DFA of all languages [`shared`] tests at once, in bytes.
const SHARED_DFA_SIZE_LIMIT: usize = 8 << 20;
/// The most states [`shared`] explores.
const SHARED_MAX_STATES: usize = 200_000;
/// The language of `uuid` (see [`crate::params::is_uuid`]).
pub(super) const UUID_REGEX: &str =
    "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}";

type FxSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// The language of `int`: an optional `-`, any leading zeros, then `0` or
/// a number of at most 19 digits within `i64` (see
/// [`crate::params::parse_int`]). Written so that each text is read one
/// way only (the first non-zero digit starts the number), which keeps its
/// DFA small.
pub(super) fn int_regex() -> String {
    format!(
        "0*(?:0|[1-9][0-9]{{0,17}}|{})|-0*(?:0|[1-9][0-9]{{0,17}}|{})",
        at_most(&i64::MAX.to_string()),
        at_most(&i64::MIN.unsigned_abs().to_string()),
    )
}

/// A regex for the numerals of exactly `max.len()` digits, without a
/// leading zero, that are at most `max` (ASCII digits, no leading zero):
/// for each digit of `max`, the digits before it, a smaller digit (not
/// `0` in front), then any digits; and `max` itself.
fn at_most(max: &str) -> String {
    let mut alternatives = Vec::new();
    for (i, digit) in max.char_indices() {
        let lowest = u32::from(i == 0);
        if let Some(below) = digit.to_digit(10).and_then(|d| d.checked_sub(1))
            && below >= lowest
        {
            let rest = max.len() - i - 1;
            let prefix = max.get(..i).unwrap_or_default();
            alternatives.push(format!("{prefix}[{lowest}-{below}][0-9]{{{rest}}}"));
        }
    }
    alternatives.push(max.to_string());
    alternatives.join("|")
}

/// Whether regex `source` has a Unicode word boundary (or does not parse):
/// its DFA gives up on non-ASCII text, so it is left out of [`shared`].
pub(super) fn has_unicode_word_boundary(source: &str) -> bool {
    syntax::parse(source).map_or(true, |hir| {
        hir.properties().look_set().contains_word_unicode()
    })
}

/// What a test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// No valid segment text is in both.
    Disjoint,
    /// Some valid segment text is in both.
    Common,
    /// A bound was hit before an answer.
    GaveUp,
}

/// The DFA builder for anchored whole-text matches of `^(?:RE)$`
/// patterns, telling every pattern that matches.
fn builder(size_limit: usize) -> dense::Builder {
    let mut builder = dense::Builder::new();
    builder
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .start_kind(StartKind::Anchored)
                .unicode_word_boundary(true)
                .dfa_size_limit(Some(size_limit))
                .determinize_size_limit(Some(size_limit)),
        )
        .syntax(syntax::Config::new())
        .thompson(
            thompson::Config::new()
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(size_limit.max(REGEX_SIZE_LIMIT))),
        );
    builder
}

/// `^(?:source)$`.
fn anchored(source: &str) -> String {
    format!("^(?:{source})$")
}

/// A language as an anchored DFA and its start state.
#[derive(Debug)]
pub(super) struct Language {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Language {
    /// The DFA of `^(?:source)$`, or `None` past its size limit.
    pub(super) fn build(source: &str) -> Option<Language> {
        let dfa = builder(DFA_SIZE_LIMIT).build(&anchored(source)).ok()?;
        let start = start_state(&dfa)?;
        Some(Language { dfa, start })
    }

    /// Whether the text that led to `state` is in the language.
    fn accepts_at_end(&self, state: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
    }
}

fn start_state(dfa: &dense::DFA<Vec<u32>>) -> Option<StateID> {
    dfa.start_state(&start::Config::new().anchored(Anchored::Yes))
        .ok()
}

/// Where a decoded segment text stands, byte by byte (its parts are what
/// `%2F`s separate): only [`Valid::Part`] and [`Valid::Other`] end a text
/// a request can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Valid {
    /// Nothing read yet (an empty segment is no segment).
    Start,
    /// Just after a `/`: the current part is empty so far.
    Part,
    /// The current part is `.` so far.
    Dot,
    /// The current part is `..` so far.
    DotDot,
    /// The current part is neither empty, `.` nor `..`.
    Other,
}

impl Valid {
    /// The bytes [`Valid::next`] tells apart.
    fn class(byte: u8) -> u8 {
        match byte {
            b'/' => 0,
            b'.' => 1,
            _ => 2,
        }
    }

    /// The state after `byte`; `None` once a `.` or `..` part ends.
    fn next(self, byte: u8) -> Option<Valid> {
        Some(match (self, byte) {
            (Valid::Dot | Valid::DotDot, b'/') => return None,
            (_, b'/') => Valid::Part,
            (Valid::Start | Valid::Part, b'.') => Valid::Dot,
            (Valid::Dot, b'.') => Valid::DotDot,
            _ => Valid::Other,
        })
    }

    fn accepts(self) -> bool {
        matches!(self, Valid::Part | Valid::Other)
    }
}

/// One byte per class of bytes that `class` maps alike.
fn representatives<K: Eq + std::hash::Hash>(class: impl Fn(u8) -> K) -> Vec<u8> {
    let mut seen = FxSet::default();
    (0..=u8::MAX).filter(|&b| seen.insert(class(b))).collect()
}

/// Whether some valid segment text is in both `a` and `b`, exploring at
/// most `max_states` state triples; and how many it explored.
pub(super) fn intersect(a: &Language, b: &Language, max_states: usize) -> (Verdict, usize) {
    let (ca, cb) = (a.dfa.byte_classes(), b.dfa.byte_classes());
    let bytes = representatives(|byte| (ca.get(byte), cb.get(byte), Valid::class(byte)));
    let first = (a.start, b.start, Valid::Start);
    let mut seen = FxSet::from_iter([first]);
    let mut queue = VecDeque::from([first]);
    let mut quit = false;
    while let Some((sa, sb, valid)) = queue.pop_front() {
        if valid.accepts() && a.accepts_at_end(sa) && b.accepts_at_end(sb) {
            return (Verdict::Common, seen.len());
        }
        for &byte in &bytes {
            let Some(valid) = valid.next(byte) else {
                continue;
            };
            let (na, nb) = (a.dfa.next_state(sa, byte), b.dfa.next_state(sb, byte));
            if a.dfa.is_dead_state(na) || b.dfa.is_dead_state(nb) {
                continue;
            }
            if a.dfa.is_quit_state(na) || b.dfa.is_quit_state(nb) {
                quit = true;
                continue;
            }
            let next = (na, nb, valid);
            if seen.insert(next) {
                if seen.len() > max_states {
                    return (Verdict::GaveUp, seen.len());
                }
                queue.push_back(next);
            }
        }
    }
    let verdict = if quit {
        Verdict::GaveUp
    } else {
        Verdict::Disjoint
    };
    (verdict, seen.len())
}

/// Every pair `(i, j)`, `i < j`, of `sources` (regexes, none with a
/// Unicode `\b`) that share a valid segment text; `None` past a bound.
pub(super) fn shared(sources: &[String]) -> Option<FxSet<(usize, usize)>> {
    let patterns: Vec<String> = sources.iter().map(|s| anchored(s)).collect();
    let dfa = builder(SHARED_DFA_SIZE_LIMIT).build_many(&patterns).ok()?;
    let classes = dfa.byte_classes();
    let bytes = representatives(|byte| (classes.get(byte), Valid::class(byte)));
    let first = (start_state(&dfa)?, Valid::Start);
    let mut seen = FxSet::from_iter([first]);
    let mut queue = VecDeque::from([first]);
    let mut match_sets = FxSet::default();
    let mut pairs = FxSet::default();
    while let Some((state, valid)) = queue.pop_front() {
        let end = dfa.next_eoi_state(state);
        if valid.accepts() && dfa.is_match_state(end) {
            let set: Vec<usize> = (0..dfa.match_len(end))
                .map(|k| dfa.match_pattern(end, k).as_usize())
                .collect();
            if set.len() > 1 && match_sets.insert(set.clone()) {
                for (k, &i) in set.iter().enumerate() {
                    for &j in &set[k + 1..] {
                        pairs.insert((i.min(j), i.max(j)));
                    }
                }
            }
        }
        for &byte in &bytes {
            let Some(valid) = valid.next(byte) else {
                continue;
            };
            let next = dfa.next_state(state, byte);
            if dfa.is_dead_state(next) {
                continue;
            }
            if dfa.is_quit_state(next) {
                return None;
            }
            if seen.insert((next, valid)) {
                if seen.len() > SHARED_MAX_STATES {
                    return None;
                }
                queue.push_back((next, valid));
            }
        }
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{is_uuid, parse_int};

    fn language(source: &str) -> Language {
        Language::build(source).unwrap()
    }

    fn sources(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn int_regex_is_parse_int() {
        let int = regex::Regex::new(&anchored(&int_regex())).unwrap();
        let mut samples: Vec<String> = sources(&[
            "0",
            "-0",
            "007",
            "-007",
            "9223372036854775807",
            "9223372036854775808",
            "9223372036854775817",
            "9223372036854775900",
            "9323372036854775807",
            "-9223372036854775808",
            "-9223372036854775809",
            "00009223372036854775807",
            "-00009223372036854775808",
            "9999999999999999999",
            "1000000000000000000",
            "10000000000000000000",
            "",
            "-",
            "+1",
            "--1",
            "1a",
            " 1",
            "٣",
        ]);
        // Numbers of 1 to 20 digits, with and without a sign.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 1..=20 {
            for _ in 0..50 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let digits: String = (0..len)
                    .map(|i| char::from(b'0' + ((x >> (i % 60)) % 10) as u8))
                    .collect();
                samples.push(format!("-{digits}"));
                samples.push(digits);
            }
        }
        for n in [i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1] {
            samples.push(n.to_string());
        }
        for s in &samples {
            assert_eq!(int.is_match(s), parse_int(s).is_some(), "{s:?}");
        }
    }

    #[test]
    fn uuid_regex_is_is_uuid() {
        let uuid = regex::Regex::new(&anchored(UUID_REGEX)).unwrap();
        for s in [
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247_bb680e5fe0c8",
            "g7e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e5504410b1426f9247bb680e5fe0c8",
        ] {
            assert_eq!(uuid.is_match(s), is_uuid(s), "{s:?}");
        }
    }

    #[test]
    fn past_a_bound_gives_up() {
        let (a, b) = (language("[a-z]{10}"), language("[a-y]{10}z?"));
        assert_eq!(intersect(&a, &b, 20_000).0, Verdict::Common);
        assert_eq!(intersect(&a, &b, 3), (Verdict::GaveUp, 4));
        // A disjoint answer found within the bound stands.
        let (c, d) = (language("[a-z]{10}"), language("[0-9]{10}"));
        assert_eq!(intersect(&c, &d, 3).0, Verdict::Disjoint);
        // A DFA past its size limit (2^20 states).
        assert!(Language::build("[ab]*a[ab]{20}").is_none());
        assert!(shared(&sources(&["[ab]*a[ab]{22}", "[0-9]+"])).is_none());
    }

    #[test]
    fn a_unicode_word_boundary_gives_up_on_non_ascii() {
        assert!(has_unicode_word_boundary("\\bé+\\b"));
        assert!(!has_unicode_word_boundary("(?-u:\\b)a"));
        assert!(!has_unicode_word_boundary("\\w+"));
        let max = 20_000;
        let verdict = |a, b| intersect(&language(a), &language(b), max).0;
        assert_eq!(verdict("\\bé+\\b", "[^a-z]+"), Verdict::GaveUp);
        // Unless the other side has no non-ASCII text.
        assert_eq!(verdict("\\b[a-z]+\\b", "[0-9]+"), Verdict::Disjoint);
        assert_eq!(verdict("\\b[a-z]+\\b", ".+"), Verdict::Common);
    }

    #[test]
    fn shared_names_every_pair_with_a_common_text() {
        let all = sources(&[
            &int_regex(),
            UUID_REGEX,
            "[0-9]+",
            "[a-z]+",
            "[a-f0-9-]{36}",
            "\\.|a/\\.\\.",
            ".*",
            "x",
        ]);
        let pairs = shared(&all).unwrap();
        let languages: Vec<Language> = all.iter().map(|s| language(s)).collect();
        let mut expected = FxSet::default();
        for (i, a) in languages.iter().enumerate() {
            for (j, b) in languages.iter().enumerate().skip(i + 1) {
                if intersect(a, b, 20_000).0 == Verdict::Common {
                    expected.insert((i, j));
                }
            }
        }
        assert_eq!(pairs, expected);
        for pair in [(0, 2), (1, 4), (2, 4), (3, 6), (3, 7), (6, 7)] {
            assert!(pairs.contains(&pair), "{pair:?}");
        }
        for pair in [(0, 1), (0, 3), (2, 3), (5, 6), (1, 2)] {
            assert!(!pairs.contains(&pair), "{pair:?}");
        }
    }
}
