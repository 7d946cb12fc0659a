//! A line diff for golden tests' failure messages, shared by the test
//! crates that compare output with committed files (included with
//! `#[path = ".../tests/support/line_diff.rs"] mod line_diff;`).

use std::fmt::Write as _;

/// `expected` against `actual` by longest common subsequence: unchanged
/// lines indented, removed ones `-` and added ones `+`, each with its line
/// number in its own file.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        let line = if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
            format!("             {}", a[i - 1])
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            i += 1;
            format!("  line {i:>4} - {}", a[i - 1])
        } else {
            j += 1;
            format!("  line {j:>4} + {}", b[j - 1])
        };
        let _ = writeln!(out, "{line}");
    }
    out
}
