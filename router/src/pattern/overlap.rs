//! Whether two patterns could match the same request path with the same
//! specificity everywhere: the test behind route conflicts
//! ([`crate::table`]). Build and publish time only; lookups never come
//! here.
//!
//! ## The rule
//! Position by position, the segments must be of the same specificity
//! class and able to accept a common segment text: equal statics, two
//! plain parameters, two wildcards, or two typed segments (`int`, `uuid`,
//! `regex`) whose languages share a text a request segment can be
//! (`language`). The same type twice (the same regex source) always
//! counts as overlapping, even a regex accepting nothing, so patterns of
//! the same shape always overlap.
//!
//! ## Cost and bounds
//! A table build groups routes by [`classes`] (statics and specificity)
//! first; only routes of one group are compared. The types that may have
//! to be compared ([`contested`]) are decided together on one DFA of all
//! of them, so that a hundred regexes in one place are not a hundred
//! squared products; a type with a Unicode `\b`, or all of them when that
//! DFA is past its bounds, are compared pair by pair (each pair's DFAs and
//! answer computed once per build). A pair whose test hits a bound (a DFA
//! over 1 MiB, more than [`MAX_STATES`] product states, or more than
//! [`BUILD_MAX_STATES`] for the whole build, a Unicode `\b` meeting
//! non-ASCII text) counts as overlapping: a doubt is reported as a
//! conflict, never missed.

use std::collections::HashMap;

use super::language::{
    Language, UUID_REGEX, Verdict, has_unicode_word_boundary, int_regex, intersect, shared,
};
use super::{ParamKind, Pattern, Segment, Specificity};

/// The most state triples explored per pair of types compared apart;
/// past it, they overlap.
const MAX_STATES: usize = 20_000;
/// The most state triples explored per table build, all pairs compared
/// apart together; past it, every further pair overlaps unless its first
/// steps prove otherwise.
const BUILD_MAX_STATES: usize = 1_000_000;

/// The class of a pattern segment that must be equal for two patterns to
/// overlap: a static's text, or the specificity of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class<'a> {
    Static(&'a str),
    Other(Specificity),
}

/// The [`Class`] of every segment of `pattern`.
pub(crate) fn classes(pattern: &Pattern) -> Vec<Class<'_>> {
    pattern
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Static(text) => Class::Static(text),
            other => Class::Other(other.specificity()),
        })
        .collect()
}

/// Adds to `into` the types `group` (patterns with the same [`classes`])
/// may have to compare: at each typed position where the group has two
/// different types, all of them.
pub(crate) fn contested<'a>(group: &[&'a Pattern], into: &mut Vec<&'a ParamKind>) {
    let Some(first) = group.first() else {
        return;
    };
    for position in 0..first.segments.len() {
        let kinds: Vec<&ParamKind> = group
            .iter()
            .filter_map(|p| match p.segments.get(position) {
                Some(Segment::Param { kind, .. }) if *kind != ParamKind::Plain => Some(kind),
                _ => None,
            })
            .collect();
        if let Some(first) = kinds.first()
            && kinds.iter().any(|k| k != first)
        {
            into.extend(kinds);
        }
    }
}

/// A typed segment's language, named by what defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Typed<'a> {
    Int,
    Uuid,
    Regex(&'a str),
}

impl<'a> Typed<'a> {
    fn of(kind: &'a ParamKind) -> Option<Typed<'a>> {
        match kind {
            ParamKind::Plain => None,
            ParamKind::Int => Some(Typed::Int),
            ParamKind::Uuid => Some(Typed::Uuid),
            ParamKind::Regex(r) => Some(Typed::Regex(r.source())),
        }
    }

    fn source(self) -> String {
        match self {
            Typed::Int => int_regex(),
            Typed::Uuid => UUID_REGEX.to_string(),
            Typed::Regex(source) => source.to_string(),
        }
    }
}

/// Overlap tests for one table build.
#[derive(Debug)]
pub(crate) struct Overlaps<'a> {
    /// Ordered pairs of different types known to share a text or not:
    /// those decided together by [`Overlaps::new`], then those compared
    /// apart.
    answers: HashMap<(Typed<'a>, Typed<'a>), bool>,
    /// The DFAs of the types compared apart (`None`: past its size limit).
    languages: HashMap<Typed<'a>, Option<Language>>,
    /// Per pair compared apart.
    max_states: usize,
    /// What remains of the build's [`BUILD_MAX_STATES`].
    budget: usize,
}

impl<'a> Overlaps<'a> {
    /// Decides together every pair of the `contested` types it can.
    pub(crate) fn new(contested: &[&'a ParamKind]) -> Overlaps<'a> {
        Overlaps::with_limits(contested, MAX_STATES, BUILD_MAX_STATES)
    }

    fn with_limits(contested: &[&'a ParamKind], max_states: usize, budget: usize) -> Overlaps<'a> {
        let mut together: Vec<Typed<'a>> = contested.iter().filter_map(|k| Typed::of(k)).collect();
        together.sort();
        together.dedup();
        let (together, sources): (Vec<Typed<'a>>, Vec<String>) = together
            .into_iter()
            .map(|t| (t, t.source()))
            .filter(|(_, source)| !has_unicode_word_boundary(source))
            .unzip();
        let mut answers = HashMap::new();
        if together.len() > 1
            && let Some(pairs) = shared(&sources)
        {
            for (i, &a) in together.iter().enumerate() {
                for (j, &b) in together.iter().enumerate().skip(i + 1) {
                    answers.insert((a, b), pairs.contains(&(i, j)));
                }
            }
        }
        Overlaps {
            answers,
            languages: HashMap::new(),
            max_states,
            budget,
        }
    }

    /// Whether some request path matches both `a` and `b` with the same
    /// specificity at every segment (see the module documentation).
    pub(crate) fn patterns(&mut self, a: &'a Pattern, b: &'a Pattern) -> bool {
        a.segments.len() == b.segments.len()
            && a.segments
                .iter()
                .zip(&b.segments)
                .all(|(x, y)| self.segments(x, y))
    }

    fn segments(&mut self, a: &'a Segment, b: &'a Segment) -> bool {
        match (a, b) {
            (Segment::Static(x), Segment::Static(y)) => x == y,
            (Segment::Wildcard { .. }, Segment::Wildcard { .. }) => true,
            (Segment::Param { kind: x, .. }, Segment::Param { kind: y, .. }) => {
                match (Typed::of(x), Typed::of(y)) {
                    (None, None) => true,
                    (Some(x), Some(y)) => self.typed(x, y),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Whether typed segments `a` and `b` accept a common valid text.
    fn typed(&mut self, a: Typed<'a>, b: Typed<'a>) -> bool {
        if a == b {
            return true;
        }
        let key = if a < b { (a, b) } else { (b, a) };
        if let Some(&answer) = self.answers.get(&key) {
            return answer;
        }
        for typed in [a, b] {
            self.languages
                .entry(typed)
                .or_insert_with(|| Language::build(&typed.source()));
        }
        let answer = match (self.languages.get(&a), self.languages.get(&b)) {
            (Some(Some(x)), Some(Some(y))) => {
                let (verdict, explored) = intersect(x, y, self.max_states.min(self.budget));
                self.budget = self.budget.saturating_sub(explored);
                verdict != Verdict::Disjoint
            }
            _ => true,
        };
        self.answers.insert(key, answer);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `a` and `b` overlap, compared apart and decided together
    /// (which must agree).
    fn overlap(a: &str, b: &str) -> bool {
        let (a, b) = (Pattern::parse(a).unwrap(), Pattern::parse(b).unwrap());
        let apart = Overlaps::new(&[]).patterns(&a, &b);
        assert_eq!(apart, Overlaps::new(&[]).patterns(&b, &a), "{a} {b}");
        let mut kinds = Vec::new();
        contested(&[&a, &b], &mut kinds);
        let together = Overlaps::new(&kinds).patterns(&a, &b);
        assert_eq!(apart, together, "{a} {b}");
        apart
    }

    #[test]
    fn typed_segments_overlap_when_their_languages_meet() {
        assert!(overlap("/a/{x:int}", "/a/{y:regex([0-9]+)}"));
        // `00000000000000000001` is an `int` (1).
        assert!(overlap("/a/{x:int}", "/a/{y:regex([0-9]{20})}"));
        // 20 digits without a leading zero are past `i64`.
        assert!(!overlap("/a/{x:int}", "/a/{y:regex([1-9][0-9]{19})}"));
        assert!(!overlap("/a/{x:int}", "/a/{y:regex(\\+[0-9]+)}"));
        assert!(overlap("/a/{x:uuid}", "/a/{y:regex([0-9a-f-]+)}"));
        assert!(!overlap("/a/{x:uuid}", "/a/{y:regex([0-9a-f]+)}"));
        assert!(!overlap("/a/{x:int}", "/a/{y:uuid}"));
        assert!(overlap("/a/{x:regex([a-c]+)}", "/a/{y:regex([b-z]+)}"));
        assert!(!overlap("/a/{x:regex([a-z]+)}", "/a/{y:regex([0-9]+)}"));
        assert!(!overlap("/c/{x:regex([A-Z]{3})}", "/c/{y:regex([A-Z]{4})}"));
        assert!(overlap("/{x:regex(é+)}", "/{y:regex(\\w+)}"));
        assert!(overlap("/{x:regex(\\d+)}", "/{y:regex(٣)}"));
    }

    #[test]
    fn only_texts_a_request_segment_can_be_count() {
        // `.`, `..` and `a/..` (from `a%2F..`) are refused in paths.
        assert!(!overlap("/{x:regex(\\.)}", "/{y:regex(.*)}"));
        assert!(!overlap("/{x:regex(\\.\\.?)}", "/{y:regex(.+)}"));
        assert!(!overlap("/{x:regex(a/\\.\\.)}", "/{y:regex(.+)}"));
        assert!(!overlap("/{x:regex(\\.\\./b|)}", "/{y:regex(.*)}"));
        assert!(overlap("/{x:regex(\\.\\.\\.)}", "/{y:regex(.+)}"));
        assert!(overlap("/{x:regex(a/)}", "/{y:regex(.+)}"));
        assert!(overlap("/{x:regex(\\.\\.a|\\.)}", "/{y:regex(.+)}"));
        // The empty text is no segment.
        assert!(!overlap("/{x:regex(a?)}", "/{y:regex(b?)}"));
    }

    #[test]
    fn the_other_segments() {
        assert!(overlap("/a/{x}/{*r}", "/a/{y}/{*s}"));
        assert!(!overlap("/a/{x}", "/a/{x:int}"));
        assert!(!overlap("/a/b", "/a/{x:regex(b)}"));
        assert!(!overlap("/a/{x}", "/a/{*x}"));
        assert!(!overlap("/a/b", "/a/c"));
        assert!(!overlap("/a", "/a/{x}"));
        assert!(overlap("/", "/"));
        // Several typed segments: every one must overlap.
        assert!(overlap(
            "/{a:int}/{b:regex([a-z]+)}",
            "/{c:regex(-?[0-9])}/{d:regex(x.*)}"
        ));
        assert!(!overlap(
            "/{a:int}/{b:regex([a-z]+)}",
            "/{c:regex(-?[0-9])}/{d:regex(X.*)}"
        ));
    }

    #[test]
    fn the_same_type_always_overlaps() {
        // Even a regex that accepts nothing: same shape, same paths.
        assert!(overlap("/{x:regex([^\\s\\S])}", "/{y:regex([^\\s\\S])}"));
        assert!(!overlap("/{x:regex([^\\s\\S])}", "/{y:regex(.+)}"));
        assert!(overlap("/{x:int}", "/{y:int}"));
        assert!(overlap("/{x:uuid}", "/{y:uuid}"));
    }

    #[test]
    fn contested_types_are_those_that_differ_in_one_place() {
        let patterns: Vec<Pattern> = [
            "/a/{x:int}/{y:regex(b)}",
            "/a/{x:regex([0-9]+)}/{y:regex(b)}",
            "/a/{x:int}/{y:regex(b)}",
        ]
        .iter()
        .map(|p| Pattern::parse(p).unwrap())
        .collect();
        let group: Vec<&Pattern> = patterns.iter().collect();
        let mut kinds = Vec::new();
        contested(&group, &mut kinds);
        // The second position (int, regex, int), not the third (one regex).
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(
            kinds
                .iter()
                .all(|k| !matches!(k, ParamKind::Regex(r) if r.source() == "b"))
        );
    }

    #[test]
    fn past_a_bound_is_an_overlap() {
        let p = Pattern::parse("/{x:regex([a-z]{30})}").unwrap();
        let q = Pattern::parse("/{x:regex([a-y]{30})}").unwrap();
        assert!(Overlaps::new(&[]).patterns(&p, &q));
        let r = Pattern::parse("/{x:regex([a-z]{30}0)}").unwrap();
        assert!(!Overlaps::new(&[]).patterns(&p, &r));
        assert!(Overlaps::with_limits(&[], 5, BUILD_MAX_STATES).patterns(&p, &r));
        // The build's budget: the first pair spends most of it, the second
        // (as deep) finds it spent.
        let s = Pattern::parse("/{x:regex([a-z]{30}1)}").unwrap();
        let mut overlaps = Overlaps::with_limits(&[], MAX_STATES, 40);
        assert!(!overlaps.patterns(&p, &r));
        assert!(overlaps.patterns(&p, &s));
        assert!(!Overlaps::new(&[]).patterns(&p, &s));
        // A DFA past its size limit, even against a disjoint language.
        let huge = Pattern::parse("/{x:regex([ab]*a[ab]{20})}").unwrap();
        let digits = Pattern::parse("/{x:regex([0-9]+)}").unwrap();
        assert!(Overlaps::new(&[]).patterns(&huge, &digits));
        // A Unicode `\b` meeting non-ASCII text.
        let word = Pattern::parse("/{x:regex(\\bé+\\b)}").unwrap();
        let other = Pattern::parse("/{x:regex([^a-z]+)}").unwrap();
        let mut kinds = Vec::new();
        contested(&[&word, &other], &mut kinds);
        assert!(Overlaps::new(&kinds).patterns(&word, &other));
        let ascii = Pattern::parse("/{x:regex([0-9]+)}").unwrap();
        assert!(!Overlaps::new(&[]).patterns(&word, &ascii));
    }

    #[test]
    fn many_types_in_one_place_are_decided_together() {
        let patterns: Vec<Pattern> = (0..60)
            .map(|i| Pattern::parse(&format!("/x/{{a:regex(\\w+_{i})}}")).unwrap())
            .collect();
        let group: Vec<&Pattern> = patterns.iter().collect();
        let mut kinds = Vec::new();
        contested(&group, &mut kinds);
        let mut overlaps = Overlaps::new(&kinds);
        assert_eq!(overlaps.answers.len(), 60 * 59 / 2);
        // Each text ends in `_` and the regex's own number, which holds no
        // `_`: no two share one.
        for (i, a) in patterns.iter().enumerate() {
            for b in &patterns[i + 1..] {
                assert!(!overlaps.patterns(a, b), "{a} {b}");
            }
        }
        assert!(overlaps.languages.is_empty(), "compared apart");
    }
}
