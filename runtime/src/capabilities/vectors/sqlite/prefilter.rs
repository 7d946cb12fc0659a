//! The embedded store's in-memory prefilter: each collection's vectors
//! normalized and rounded to `i8` ([`Index`]), from which a search gets,
//! for every record, a proven range for its score, and keeps only the
//! records that can reach the top `k` ([`Index::candidates`]); the exact
//! scan then ranks those (see the parent module).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::super::VectorError;

/// The squared norms (computed in `f64`) of the vectors for which
/// [`score_error`] bounds sqlite-vec's `f32` score: its sums of squares
/// neither overflow nor lose precision to underflow. A stored vector
/// outside this range is always a candidate; a query outside it goes to the
/// scan.
pub(super) const REGULAR_NORM2: RangeInclusive<f64> = 1e-20..=1e30;

/// How far sqlite-vec's cosine similarity (`1 - distance_cosine_float`) of
/// two regular vectors of `dimension` can be from the exact one. Its dot
/// product and two squared norms are sequential `f32` sums of `dimension`
/// products, each off by at most γ ≈ (dimension + 1)·u relative to the sum
/// of the products' magnitudes (u = 2⁻²⁴), which Cauchy-Schwarz bounds by
/// the product of the norms; the square roots, product, division and
/// subtraction add a few u. That is about 2·(dimension + 3)·u in all;
/// twice that, plus 1e-9 for this module's own `f64` rounding.
pub(super) fn score_error(dimension: usize) -> f64 {
    4.0 * (dimension as f64 + 3.0) * f64::powi(2.0, -24) + 1e-9
}

/// Integer dot products are summed in `i32` over this many components
/// (512 · 127 · 32 767 < 2³¹), then in `i64`.
const DOT_CHUNK: usize = 512;

/// A collection's vectors, normalized and rounded to `i8`, each with its
/// own step, for [`Index::candidates`].
#[derive(Clone, Default)]
pub(super) struct Index {
    /// The collection's `version` this index reflects (0: empty).
    pub(super) version: i64,
    dimension: usize,
    rids: Vec<i64>,
    /// Position of each rid in `rids`, `steps` and `codes`.
    slots: HashMap<i64, usize>,
    /// Per record: the rounding step of its normalized vector, or infinity
    /// for a vector outside [`REGULAR_NORM2`].
    steps: Vec<f64>,
    /// `dimension` codes per record: component `i` of the normalized vector
    /// is `step · code[i]`, within `step / 2`.
    codes: Vec<i8>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("version", &self.version)
            .field("dimension", &self.dimension)
            .field("records", &self.rids.len())
            .finish_non_exhaustive()
    }
}

impl Index {
    pub(super) fn new(dimension: usize) -> Index {
        Index {
            dimension,
            ..Index::default()
        }
    }

    /// Adds or replaces record `rid`'s vector (little-endian `f32` bytes).
    pub(super) fn put(&mut self, rid: i64, embedding: &[u8]) -> Result<(), VectorError> {
        let dimension = self.dimension;
        if embedding.len() != 4 * dimension {
            return Err(VectorError::Failed(format!(
                "the stored vector of record {rid} has {} bytes, not {} ({dimension} dimensions)",
                embedding.len(),
                4 * dimension
            )));
        }
        let slot = match self.slots.get(&rid) {
            Some(&slot) => slot,
            None => {
                let slot = self.rids.len();
                self.slots.insert(rid, slot);
                self.rids.push(rid);
                self.steps.push(f64::INFINITY);
                self.codes.resize(self.codes.len() + dimension, 0);
                slot
            }
        };
        let codes = &mut self.codes[slot * dimension..(slot + 1) * dimension];
        self.steps[slot] = quantize(embedding, codes);
        Ok(())
    }

    /// The records that may be among the `k` best for `query` by
    /// sqlite-vec's score (all of them when there are at most `k`).
    ///
    /// Take a record with normalized vector `u`, `u[i] = step·c[i] + e[i]`
    /// with `|e[i]| ≤ step/2`, and the normalized query `q`, `q[i] =
    /// s·d[i] + f[i]` with `|f[i]| ≤ s/2`. Then `u·q = step·s·(c·d) +
    /// step·Σ c[i]·f[i] + Σ e[i]·q[i]`, and the last two terms are at most
    /// `step·(s·127·n/2 + ‖q‖₁/2)` in magnitude. sqlite-vec's score is
    /// within [`score_error`] of `u·q`, so it lies in `[lo, hi]` around
    /// `step·s·(c·d)`. The `k` records with the highest `lo` all score at
    /// least the `k`-th highest `lo`, `L`; so does every record of the true
    /// top `k`, and every record tied with its last, and each of those has
    /// `hi ≥ L`. Keeping every record with `hi ≥ L` keeps them all.
    pub(super) fn candidates(&self, query: &QueryCode, k: usize) -> Vec<i64> {
        let n = self.rids.len();
        if n <= k {
            return self.rids.clone();
        }
        let mut lo = Vec::with_capacity(n);
        let mut hi = Vec::with_capacity(n);
        for (codes, &step) in self.codes.chunks_exact(self.dimension).zip(&self.steps) {
            if step.is_infinite() {
                lo.push(f64::NEG_INFINITY);
                hi.push(f64::INFINITY);
                continue;
            }
            let dot: i64 = codes
                .chunks(DOT_CHUNK)
                .zip(query.codes.chunks(DOT_CHUNK))
                .map(|(c, d)| {
                    let part: i32 = c
                        .iter()
                        .zip(d)
                        .map(|(&c, &d)| i32::from(c) * i32::from(d))
                        .sum();
                    i64::from(part)
                })
                .sum();
            let estimate = step * query.step * dot as f64;
            let error = step * query.error + query.slack;
            lo.push(estimate - error);
            hi.push(estimate + error);
        }
        let (_, threshold, _) = lo.select_nth_unstable_by(n - k, f64::total_cmp);
        let threshold = *threshold;
        self.rids
            .iter()
            .zip(&hi)
            .filter(|&(_, &hi)| hi >= threshold)
            .map(|(&rid, _)| rid)
            .collect()
    }
}

/// Normalizes a stored vector (little-endian `f32` bytes) and rounds it
/// into `codes`; returns the step (infinity, with zero codes, outside
/// [`REGULAR_NORM2`]).
fn quantize(embedding: &[u8], codes: &mut [i8]) -> f64 {
    let values = || {
        embedding
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let norm2: f64 = values().map(|x| x * x).sum();
    if !REGULAR_NORM2.contains(&norm2) {
        codes.fill(0);
        return f64::INFINITY;
    }
    let norm = norm2.sqrt();
    let step = values().fold(0.0, |m: f64, x| m.max(x.abs())) / norm / 127.0;
    for (code, x) in codes.iter_mut().zip(values()) {
        *code = (x / norm / step).round() as i8;
    }
    step
}

/// A query normalized and rounded to `i16` for [`Index::candidates`].
pub(super) struct QueryCode {
    codes: Vec<i16>,
    step: f64,
    /// The bound's error per unit of a record's step: `s·127·n/2 +
    /// ‖q‖₁/2` for the normalized query `q`.
    error: f64,
    /// [`score_error`] for the query's dimension.
    slack: f64,
}

impl QueryCode {
    /// `None` outside [`REGULAR_NORM2`].
    pub(super) fn new(query: &[f32]) -> Option<QueryCode> {
        let values = || query.iter().map(|&x| f64::from(x));
        let norm2: f64 = values().map(|x| x * x).sum();
        if !REGULAR_NORM2.contains(&norm2) {
            return None;
        }
        let norm = norm2.sqrt();
        let step = values().fold(0.0, |m: f64, x| m.max(x.abs())) / norm / f64::from(i16::MAX);
        let l1: f64 = values().map(|x| x.abs() / norm).sum();
        let n = query.len() as f64;
        Some(QueryCode {
            codes: values().map(|x| (x / norm / step).round() as i16).collect(),
            step,
            error: step * 127.0 * n / 2.0 + l1 / 2.0,
            slack: score_error(query.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::blob;
    use super::*;

    /// sqlite-vec's score: `1 - distance_cosine_float` (sequential `f32`
    /// sums, the rest in `f64`, the distance returned as `f32`).
    fn sqlite_vec_score(a: &[f32], b: &[f32]) -> f32 {
        let (mut dot, mut a2, mut b2) = (0f32, 0f32, 0f32);
        for (x, y) in a.iter().zip(b) {
            dot += x * y;
            a2 += x * x;
            b2 += y * y;
        }
        let distance =
            (1.0 - f64::from(dot) / (f64::from(a2).sqrt() * f64::from(b2).sqrt())) as f32;
        (1.0 - f64::from(distance)) as f32
    }

    struct Rng(u64);

    impl Rng {
        fn unit(&mut self) -> f32 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }

        fn vector(&mut self, dimension: usize) -> Vec<f32> {
            (0..dimension).map(|_| self.unit()).collect()
        }
    }

    /// Every record scoring at least the `k`-th best score is a candidate.
    fn check(vectors: &[Vec<f32>], queries: &[Vec<f32>], k: usize) -> usize {
        let mut index = Index::new(vectors[0].len());
        for (rid, v) in vectors.iter().enumerate() {
            index.put(rid as i64 + 1, &blob(v)).unwrap();
        }
        let mut most = 0;
        for q in queries {
            let candidates = index.candidates(&QueryCode::new(q).unwrap(), k);
            let mut scores: Vec<f32> = vectors.iter().map(|v| sqlite_vec_score(v, q)).collect();
            let kept: std::collections::HashSet<i64> = candidates.iter().copied().collect();
            let mut sorted = scores.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let kth = sorted[k.min(sorted.len()) - 1];
            for (rid, score) in scores.iter_mut().enumerate() {
                assert!(
                    *score < kth || kept.contains(&(rid as i64 + 1)),
                    "record {} (score {score}, k-th {kth}) is missing",
                    rid + 1
                );
            }
            most = most.max(candidates.len());
        }
        most
    }

    #[test]
    fn candidates_hold_the_top_k() {
        let mut rng = Rng(7);
        for dimension in [2, 3, 384, 1100] {
            let mut vectors: Vec<Vec<f32>> = (0..1500).map(|_| rng.vector(dimension)).collect();
            let queries: Vec<Vec<f32>> = (0..20).map(|_| rng.vector(dimension)).collect();
            for k in [1, 10, 100] {
                let most = check(&vectors, &queries, k);
                if dimension > 3 {
                    assert!(most < 20 * k, "{most} candidates for k = {k}");
                }
            }
            // Ties: scaled copies, and copies of a query.
            for i in 0..30 {
                let scaled: Vec<f32> = vectors[i].iter().map(|x| x * (i as f32 + 2.0)).collect();
                vectors.push(scaled);
                vectors.push(queries[i % 3].clone());
            }
            // Outside the regular range: always candidates.
            vectors.push(vectors[0].iter().map(|x| x * 1e-15).collect());
            vectors.push(vectors[1].iter().map(|x| x * 1e18).collect());
            for k in [1, 5, 10, 40] {
                check(&vectors, &queries, k);
            }
        }
    }

    #[test]
    fn candidates_hold_the_top_k_of_clustered_vectors() {
        let mut rng = Rng(11);
        let centres: Vec<Vec<f32>> = (0..20).map(|_| rng.vector(256)).collect();
        let mut near = |c: &[f32], spread: f32| -> Vec<f32> {
            c.iter().map(|x| x + spread * rng.unit()).collect()
        };
        let vectors: Vec<Vec<f32>> = (0..2000).map(|i| near(&centres[i % 20], 0.05)).collect();
        let queries: Vec<Vec<f32>> = (0..20).map(|i| near(&centres[i], 0.05)).collect();
        for k in [1, 10, 60] {
            check(&vectors, &queries, k);
        }
    }

    /// Keys looked up by path and keys compared by `json_each` alike.
    #[test]
    fn irregular_queries_are_refused() {
        assert!(QueryCode::new(&[1e-12, 0.0]).is_none());
        assert!(QueryCode::new(&[1e16, 1.0]).is_none());
        assert!(QueryCode::new(&[1e-9, 0.0]).is_some());
    }
}
