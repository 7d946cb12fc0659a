//! The segment trie behind [`crate::RouteTable`].
//!
//! One node per distinct pattern prefix *shape*. A node's children are
//! tried in specificity order, depth first, backtracking on failure:
//! 1. the static child equal to the segment;
//! 2. typed children: `int`, then `uuid`, then regexes by source text;
//! 3. the plain-parameter child;
//! 4. the routes ending in a wildcard here (they take the rest).
//!
//! Routes ending at a node (or in its wildcard) are leaves; the first leaf
//! reached whose route answers the request method wins. A leaf whose
//! routes answer other methods adds them to the `Allow` set and the search
//! goes on. So the cost of a lookup follows the path's length and the
//! branches that partly match it, not the number of routes.
//!
//! ## Layout
//! Built as a tree of [`Builder`] nodes, then flattened into a few
//! contiguous arrays indexed by `u32` ([`Trie`]): nodes, static edges
//! (their text in one string), typed edges, leaves, and the parameter
//! names of every route. A table of ten routes is a handful of cache
//! lines, which matters when a process holds thousands of tables and each
//! request touches a different one. A node with more than
//! [`SMALL_FANOUT`] static children gets a hash map instead of a scan.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::method::{Method, Methods};
use crate::params::{is_uuid, parse_int};
use crate::pattern::{ParamKind, RegexConstraint, Segment};

/// Up to this many static children are scanned; more are hashed.
const SMALL_FANOUT: usize = 8;
/// "No child" in [`Node::param`].
const NONE: u32 = u32::MAX;

/// A fast, unkeyed hash for static segments. Only route patterns are ever
/// inserted (requests only look up), so collisions cannot be forced.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A typed parameter's constraint.
#[derive(Debug)]
enum Typed {
    Int,
    Uuid,
    Regex(RegexConstraint),
}

impl Typed {
    /// The try order: `int`, `uuid`, then regexes by source text.
    fn order(&self) -> (u8, &str) {
        match self {
            Typed::Int => (0, ""),
            Typed::Uuid => (1, ""),
            Typed::Regex(r) => (2, r.source()),
        }
    }
}

/// What a matched non-static segment captured (turned into a
/// [`crate::ParamValue`] only for the winning route).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Capture {
    /// Segment `i`, as text.
    Segment(usize),
    Int(i64),
    /// Segment `i`, a UUID.
    Uuid(usize),
    /// Segments `i..`, joined with `/`.
    Rest(usize),
}

/// A trie node while routes are added.
#[derive(Debug, Default)]
struct Builder {
    statics: FxMap<String, Builder>,
    /// Sorted by [`Typed::order`].
    typed: Vec<(Typed, Builder)>,
    param: Option<Box<Builder>>,
    leaf: Vec<(u32, Methods)>,
    wildcard: Vec<(u32, Methods)>,
}

impl Builder {
    fn insert(&mut self, segments: &[Segment], route: u32, methods: Methods) {
        let Some((first, rest)) = segments.split_first() else {
            self.leaf.push((route, methods));
            return;
        };
        let child = match first {
            Segment::Static(text) => self.statics.entry(text.clone()).or_default(),
            Segment::Param { kind, .. } => match kind {
                ParamKind::Plain => self.param.get_or_insert_with(Box::default),
                ParamKind::Int => self.typed_child(Typed::Int),
                ParamKind::Uuid => self.typed_child(Typed::Uuid),
                ParamKind::Regex(r) => self.typed_child(Typed::Regex(r.clone())),
            },
            Segment::Wildcard { .. } => {
                self.wildcard.push((route, methods));
                return;
            }
        };
        child.insert(rest, route, methods);
    }

    fn typed_child(&mut self, key: Typed) -> &mut Builder {
        let at = match self
            .typed
            .binary_search_by(|(k, _)| k.order().cmp(&key.order()))
        {
            Ok(at) => at,
            Err(at) => {
                self.typed.insert(at, (key, Builder::default()));
                at
            }
        };
        &mut self.typed[at].1
    }
}

/// A flattened node: ranges into the [`Trie`]'s arrays.
#[derive(Debug, Clone)]
struct Node {
    /// Into [`Trie::edges`], or (with `hashed`) the index of the map in
    /// [`Trie::hashed`].
    statics: Range<u32>,
    hashed: bool,
    typed: Range<u32>,
    param: u32,
    leaf: Range<u32>,
    wildcard: Range<u32>,
}

/// A static edge: its text in [`Trie::text`] and the child node.
#[derive(Debug, Clone, Copy)]
struct Edge {
    start: u32,
    len: u32,
    child: u32,
}

/// The flattened trie of one route table.
#[derive(Debug)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    hashed: Vec<FxMap<Box<str>, u32>>,
    typed: Vec<(Typed, u32)>,
    /// `(route, methods)` of leaves and wildcards.
    leaves: Vec<(u32, Methods)>,
    /// Static edge text and parameter names.
    text: String,
    /// Per route, its range in [`Trie::names`].
    route_names: Vec<Range<u32>>,
    /// Parameter names, as ranges of [`Trie::text`].
    names: Vec<Range<u32>>,
}

fn range(start: usize, end: usize) -> Range<u32> {
    start as u32..end as u32
}

impl Trie {
    /// The trie of `routes` (their patterns and methods, in route order).
    /// Tables hold fewer than 2^32 routes and segments.
    pub(crate) fn build<'p>(routes: impl Iterator<Item = (&'p [Segment], Methods)>) -> Trie {
        let mut root = Builder::default();
        let mut trie = Trie {
            nodes: Vec::new(),
            edges: Vec::new(),
            hashed: Vec::new(),
            typed: Vec::new(),
            leaves: Vec::new(),
            text: String::new(),
            route_names: Vec::new(),
            names: Vec::new(),
        };
        for (i, (segments, methods)) in routes.enumerate() {
            root.insert(segments, i as u32, methods);
            let first = trie.names.len();
            for name in segments.iter().filter_map(Segment::name) {
                let start = trie.text.len();
                trie.text.push_str(name);
                trie.names.push(range(start, trie.text.len()));
            }
            trie.route_names.push(range(first, trie.names.len()));
        }
        trie.flatten(root);
        trie
    }

    /// Appends `root` (as node 0) and its descendants, breadth first, so
    /// that siblings are neighbours.
    fn flatten(&mut self, root: Builder) {
        let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
        self.nodes.push(empty_node());
        while let Some((node, at)) = queue.pop_front() {
            let mut child_index = |queue: &mut std::collections::VecDeque<_>, b: Builder| {
                self.nodes.push(empty_node());
                let i = self.nodes.len() - 1;
                queue.push_back((b, i));
                i as u32
            };
            let mut statics = Vec::with_capacity(node.statics.len());
            for (text, child) in node.statics {
                statics.push((text, child_index(&mut queue, child)));
            }
            let mut typed = Vec::with_capacity(node.typed.len());
            for (key, child) in node.typed {
                typed.push((key, child_index(&mut queue, child)));
            }
            let param = node.param.map_or(NONE, |b| child_index(&mut queue, *b));

            let (statics, hashed) = if statics.len() > SMALL_FANOUT {
                let map: FxMap<Box<str>, u32> =
                    statics.into_iter().map(|(t, c)| (t.into(), c)).collect();
                self.hashed.push(map);
                (range(self.hashed.len() - 1, self.hashed.len()), true)
            } else {
                let start = self.edges.len();
                for (text, child) in statics {
                    let text_start = self.text.len();
                    self.text.push_str(&text);
                    self.edges.push(Edge {
                        start: text_start as u32,
                        len: text.len() as u32,
                        child,
                    });
                }
                (range(start, self.edges.len()), false)
            };
            let typed_start = self.typed.len();
            self.typed.extend(typed);
            let leaf_start = self.leaves.len();
            self.leaves.extend(node.leaf);
            let wildcard_start = self.leaves.len();
            self.leaves.extend(node.wildcard);
            self.nodes[at] = Node {
                statics,
                hashed,
                typed: range(typed_start, self.typed.len()),
                param,
                leaf: range(leaf_start, wildcard_start),
                wildcard: range(wildcard_start, self.leaves.len()),
            };
        }
    }

    /// The parameter names of route `route`, in pattern order.
    pub(crate) fn param_names(&self, route: usize) -> impl Iterator<Item = &str> {
        let names = self.route_names.get(route).cloned().unwrap_or(0..0);
        self.names
            .get(names.start as usize..names.end as usize)
            .unwrap_or(&[])
            .iter()
            .map(|r| {
                self.text
                    .get(r.start as usize..r.end as usize)
                    .unwrap_or("")
            })
    }

    fn static_child(&self, node: &Node, segment: &str) -> Option<u32> {
        if node.hashed {
            return self
                .hashed
                .get(node.statics.start as usize)?
                .get(segment)
                .copied();
        }
        let edges = self
            .edges
            .get(node.statics.start as usize..node.statics.end as usize)?;
        edges
            .iter()
            .find(|e| {
                e.len as usize == segment.len()
                    && self
                        .text
                        .as_bytes()
                        .get(e.start as usize..(e.start + e.len) as usize)
                        == Some(segment.as_bytes())
            })
            .map(|e| e.child)
    }
}

fn empty_node() -> Node {
    Node {
        statics: 0..0,
        hashed: false,
        typed: 0..0,
        param: NONE,
        leaf: 0..0,
        wildcard: 0..0,
    }
}

/// One lookup's state.
pub(crate) struct Search<'t, 'p> {
    pub(crate) trie: &'t Trie,
    pub(crate) segments: &'p [Cow<'p, str>],
    pub(crate) method: Method,
    pub(crate) captures: Vec<Capture>,
    /// Methods of routes whose pattern matched but not the method.
    pub(crate) allow: Methods,
}

impl Search<'_, '_> {
    /// The index of the route that answers, with `self.captures` holding
    /// its captures; `None` if no route does.
    pub(crate) fn run(&mut self, node: u32, depth: usize) -> Option<usize> {
        let trie = self.trie;
        let node = trie.nodes.get(node as usize)?;
        let Some(segment) = self.segments.get(depth) else {
            if let Some(route) = self.leaf(node.leaf.clone()) {
                return Some(route);
            }
            return self.wildcard(node, depth);
        };
        if let Some(child) = trie.static_child(node, segment)
            && let Some(route) = self.run(child, depth + 1)
        {
            return Some(route);
        }
        for (typed, child) in trie
            .typed
            .get(node.typed.start as usize..node.typed.end as usize)
            .unwrap_or(&[])
        {
            let capture = match typed {
                Typed::Int => parse_int(segment).map(Capture::Int),
                Typed::Uuid => is_uuid(segment).then_some(Capture::Uuid(depth)),
                Typed::Regex(r) => r.is_match(segment).then_some(Capture::Segment(depth)),
            };
            if let Some(capture) = capture {
                self.captures.push(capture);
                if let Some(route) = self.run(*child, depth + 1) {
                    return Some(route);
                }
                self.captures.pop();
            }
        }
        if node.param != NONE {
            self.captures.push(Capture::Segment(depth));
            if let Some(route) = self.run(node.param, depth + 1) {
                return Some(route);
            }
            self.captures.pop();
        }
        self.wildcard(node, depth)
    }

    fn wildcard(&mut self, node: &Node, depth: usize) -> Option<usize> {
        if node.wildcard.is_empty() {
            return None;
        }
        self.captures.push(Capture::Rest(depth));
        let found = self.leaf(node.wildcard.clone());
        if found.is_none() {
            self.captures.pop();
        }
        found
    }

    fn leaf(&mut self, leaves: Range<u32>) -> Option<usize> {
        let trie = self.trie;
        for &(route, methods) in trie
            .leaves
            .get(leaves.start as usize..leaves.end as usize)
            .unwrap_or(&[])
        {
            if methods.contains(self.method) {
                return Some(route as usize);
            }
            self.allow = self.allow.union(methods);
        }
        None
    }
}
