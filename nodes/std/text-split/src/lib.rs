//! `text.split`: splits text into overlapping chunks (for embedding and
//! retrieval), preferring to cut at separators.
//!
//! * Config: `{chunk_size?: int (characters, default 1000, at least 1),
//!   overlap?: int (characters, default 100 — or `chunk_size / 10` when that
//!   is smaller — and less than chunk_size), separators?: list<string>
//!   (default ["\n\n", "\n", ". ", " "])}`.
//! * Input: `text: string`.
//! * Outputs: `chunks: list<string>`, `count: int`.
//!
//! Sizes are counted in characters (Unicode scalar values); a cut never
//! falls inside a character.
//!
//! # How chunks are cut
//!
//! A chunk starts at a non-whitespace character and its *window* is the
//! `chunk_size` characters from there. If the rest of the text fits in the
//! window, it is the last chunk. Otherwise the chunk ends right after the
//! **last occurrence of the first separator, in list order, that lies
//! entirely in the second half of the window** (and after the previous
//! chunk's cut, so that every chunk holds text no earlier chunk holds);
//! when no separator occurs there, the chunk is cut hard at `chunk_size`
//! characters.
//!
//! The next chunk starts `overlap` characters before that cut, moved forward
//! to just after a separator when one (again tried in list order) lies
//! within the first half of that overlap — so the shared text is between
//! half and all of `overlap` characters and starts at a natural boundary
//! when possible. It always starts after the previous chunk's start.
//!
//! Every chunk is trimmed of leading and trailing whitespace, so no chunk is
//! empty or whitespace-only; whitespace between chunks is the only text of
//! the input that appears in no chunk. Empty or whitespace-only text gives
//! zero chunks.

use std::ops::Range;
use weft_node_sdk::prelude::*;

/// `text.split`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The largest chunk, in characters (default 1000, at least 1).
    #[serde(default = "default_chunk_size")]
    #[schemars(range(min = 1))]
    pub chunk_size: u32,
    /// How many characters consecutive chunks share, approximately (aligned
    /// to a separator when possible). Must be less than `chunk_size`.
    /// Default 100, or `chunk_size / 10` when that is smaller.
    #[serde(default)]
    pub overlap: Option<u32>,
    /// Preferred cut points, most preferred first (default
    /// `["\n\n", "\n", ". ", " "]`). Each must be non-empty; an empty list
    /// means hard cuts only.
    #[serde(default = "default_separators")]
    pub separators: Vec<String>,
}

fn default_chunk_size() -> u32 {
    1000
}

fn default_separators() -> Vec<String> {
    ["\n\n", "\n", ". ", " "].map(str::to_owned).to_vec()
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    chunk_size: usize,
    overlap: usize,
    separators: Vec<String>,
}

/// Checks the config, returning every problem.
fn settings(config: &Config) -> Result<Settings, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let chunk_size = config.chunk_size as usize;
    if chunk_size == 0 {
        problems.push(ConfigProblem::field("chunk_size", "must be at least 1"));
    }
    let overlap = match config.overlap {
        Some(overlap) => {
            let overlap = overlap as usize;
            if chunk_size > 0 && overlap >= chunk_size {
                problems.push(ConfigProblem::field(
                    "overlap",
                    format!("must be less than chunk_size ({chunk_size}), got {overlap}"),
                ));
            }
            overlap
        }
        None => (chunk_size / 10).min(100),
    };
    for (i, separator) in config.separators.iter().enumerate() {
        if separator.is_empty() {
            problems.push(ConfigProblem::new(
                format!("/separators/{i}"),
                "a separator must not be empty",
            ));
        }
    }
    if problems.is_empty() {
        Ok(Settings {
            chunk_size,
            overlap,
            separators: config.separators.clone(),
        })
    } else {
        Err(problems)
    }
}

/// The byte offset of the first non-whitespace character at or after `pos`
/// (or the end of the text).
fn skip_whitespace(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    pos + (rest.len() - rest.trim_start().len())
}

/// The byte offsets `chunk_size / 2` and `chunk_size` characters after
/// `start` (each the end of the text when it is shorter).
fn window(text: &str, start: usize, chunk_size: usize) -> (usize, usize) {
    let mut half = text.len();
    let mut hard = text.len();
    for (count, (i, _)) in text[start..].char_indices().enumerate() {
        if count == chunk_size / 2 {
            half = start + i;
        }
        if count == chunk_size {
            hard = start + i;
            break;
        }
    }
    (half, hard)
}

/// Where to cut a chunk whose window ends at `hard`: right after the last
/// occurrence, within `min_cut..hard`, of the first separator that occurs
/// there.
fn find_cut(text: &str, min_cut: usize, hard: usize, separators: &[String]) -> Option<usize> {
    let region = &text[min_cut..hard];
    separators
        .iter()
        .find_map(|sep| region.rfind(sep.as_str()).map(|i| min_cut + i + sep.len()))
}

/// Where the chunk after `start..cut` starts: `overlap` characters before
/// `cut`, moved forward past a separator found in the first half of the
/// overlap, and always after `start`.
fn next_start(text: &str, start: usize, cut: usize, settings: &Settings) -> usize {
    let overlap = settings.overlap;
    if overlap == 0 {
        return cut;
    }
    let target = text[..cut]
        .char_indices()
        .rev()
        .nth(overlap - 1)
        .map_or(0, |(i, _)| i);
    let align_end = text[target..cut]
        .char_indices()
        .nth(overlap / 2)
        .map_or(cut, |(i, _)| target + i);
    let region = &text[target..align_end];
    let aligned = settings
        .separators
        .iter()
        .find_map(|sep| region.find(sep.as_str()).map(|i| target + i + sep.len()))
        .unwrap_or(target);
    // Progress: the next chunk starts at least one character later.
    let after_start = start + text[start..].chars().next().map_or(1, char::len_utf8);
    aligned.max(after_start)
}

/// The chunks of `text`, as byte ranges into it.
fn split(text: &str, settings: &Settings) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    // Where the next chunk may start (inside the overlap), and where the
    // previous chunk was cut.
    let mut pos = 0;
    let mut prev_cut = 0;
    loop {
        // The first character no chunk holds yet; each chunk must hold it.
        let fresh = skip_whitespace(text, prev_cut);
        let Some(fresh_char) = text[fresh..].chars().next() else {
            break;
        };
        let mut start = skip_whitespace(text, pos);
        let (mut half, mut hard) = window(text, start, settings.chunk_size);
        if hard <= fresh {
            // The overlap would fill the whole window: start afresh.
            start = fresh;
            (half, hard) = window(text, start, settings.chunk_size);
        }
        let cut = if hard == text.len() {
            hard
        } else {
            let min_cut = half.max(fresh + fresh_char.len_utf8());
            find_cut(text, min_cut, hard, &settings.separators).unwrap_or(hard)
        };
        let end = start + text[start..cut].trim_end().len();
        spans.push(start..end);
        if cut == text.len() {
            break;
        }
        prev_cut = cut;
        pos = next_start(text, start, cut, settings);
    }
    spans
}

/// The `text.split` node.
#[derive(Debug)]
pub struct Split;

impl Node for Split {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "text.split",
        version: "1.0.0",
        summary: "Splits text into overlapping chunks of at most chunk_size characters, \
                  cutting at separators when possible",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        settings(config)?;
        Ok(Spec::new()
            .input(Port::new("text", "string").description("The text to split"))
            .output(
                Port::new("chunks", "list<string>")
                    .description("The chunks, in order (none for empty text)"),
            )
            .output(Port::new("count", "int").description("The number of chunks")))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let settings =
            settings(&ctx.config).map_err(|mut problems| NodeError::from(problems.remove(0)))?;
        let text: String = inputs.take("text")?;
        let chunks: Vec<&str> = split(&text, &settings)
            .into_iter()
            .map(|span| &text[span])
            .collect();
        ctx.log_debug(format!(
            "split {} characters into {} chunk(s)",
            text.chars().count(),
            chunks.len()
        ));
        let count = chunks.len();
        Ok(Outputs::new().set("chunks", chunks).set("count", count))
    }
}

weft_node_sdk::export_node!(Split);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn settings_of(config: Value) -> Settings {
        let config: Config = weft_node_sdk::serde_json::from_value(config).unwrap();
        settings(&config).unwrap()
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    /// Checks the invariants every split must satisfy and returns the
    /// chunks.
    fn check(text: &str, settings: &Settings) -> Vec<Range<usize>> {
        let spans = split(text, settings);
        let mut covered = vec![false; text.len()];
        for (i, span) in spans.iter().enumerate() {
            let chunk = &text[span.clone()];
            assert!(
                chars(chunk) <= settings.chunk_size,
                "chunk {i} has {} chars: {chunk:?}",
                chars(chunk)
            );
            assert!(!chunk.trim().is_empty(), "chunk {i} is blank");
            assert_eq!(chunk, chunk.trim(), "chunk {i} is not trimmed");
            if i > 0 {
                let prev = &spans[i - 1];
                assert!(span.start > prev.start, "chunk {i} does not advance");
                assert!(span.end > prev.end, "chunk {i} does not reach further");
            }
            covered[span.clone()].iter_mut().for_each(|c| *c = true);
        }
        // Reconstructability: every non-whitespace character is in a chunk
        // (chunks are in order, see above).
        for (i, c) in text.char_indices() {
            if !c.is_whitespace() {
                assert!(covered[i], "character {c:?} at byte {i} is in no chunk");
            }
        }
        spans
    }

    fn prose(sentences: usize) -> String {
        let mut text = String::new();
        for i in 0..sentences {
            text.push_str(&format!(
                "Sentence number {i} talks about item {} in some detail. ",
                i * 7 % 13
            ));
            if i % 5 == 4 {
                text.push_str("\n\n");
            }
        }
        text
    }

    #[test]
    fn sizes_and_overlap_on_prose() {
        let text = prose(60);
        for (size, overlap) in [(100, 20), (200, 0), (57, 10), (1000, 100), (30, 29)] {
            let s = settings_of(json!({"chunk_size": size, "overlap": overlap}));
            let spans = check(&text, &s);
            assert!(spans.len() > 1, "{size}/{overlap}");
            for pair in spans.windows(2) {
                let shared = pair[0].end.saturating_sub(pair[1].start);
                assert!(shared <= overlap, "{size}/{overlap}: shared {shared}");
                if overlap >= 10 {
                    // At least half the overlap, minus a trimmed separator.
                    assert!(
                        shared + 2 >= overlap / 2,
                        "{size}/{overlap}: shared {shared}"
                    );
                }
            }
        }
    }

    #[test]
    fn prefers_paragraphs_then_sentences() {
        let text = format!("{}\n\n{}", "a".repeat(60), "b".repeat(60));
        let s = settings_of(json!({"chunk_size": 100, "overlap": 0}));
        let chunks: Vec<_> = check(&text, &s).into_iter().map(|r| &text[r]).collect();
        assert_eq!(chunks, ["a".repeat(60), "b".repeat(60)]);

        let text = "One two three. Four five six. Seven eight nine ten eleven.";
        let s = settings_of(json!({"chunk_size": 32, "overlap": 0}));
        let chunks: Vec<_> = check(text, &s).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            chunks,
            [
                "One two three. Four five six.",
                "Seven eight nine ten eleven."
            ]
        );
    }

    #[test]
    fn hard_cuts_have_exact_overlap() {
        let text: String = ('a'..='z').cycle().take(100).collect();
        let s = settings_of(json!({"chunk_size": 30, "overlap": 10}));
        let spans = check(&text, &s);
        let starts: Vec<_> = spans.iter().map(|r| r.start).collect();
        assert_eq!(starts, [0, 20, 40, 60, 80]);
        assert!(spans[..4].iter().all(|r| r.len() == 30));
        assert_eq!(spans[4], 80..100);
        // Without overlap, the chunks tile the text exactly.
        let s = settings_of(json!({"chunk_size": 30, "overlap": 0}));
        let joined: String = split(&text, &s).into_iter().map(|r| &text[r]).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn unicode_safe() {
        let text = "日本語のテキストです。🎉🎉🎉 ünïcödé wörds everywhere ✓✓✓ ".repeat(20);
        for (size, overlap) in [(7, 3), (10, 0), (1, 0), (25, 5), (2, 1)] {
            let s = settings_of(json!({"chunk_size": size, "overlap": overlap}));
            check(&text, &s);
        }
        let s = settings_of(json!({"chunk_size": 3, "overlap": 1, "separators": []}));
        let spans = check("🎉🎉🎉🎉🎉", &s);
        assert_eq!(spans.len(), 2);
        assert_eq!(&"🎉🎉🎉🎉🎉"[spans[1].clone()], "🎉🎉🎉");
    }

    #[test]
    fn blank_and_short_text() {
        let s = settings_of(json!({}));
        assert_eq!(s.chunk_size, 1000);
        assert_eq!(s.overlap, 100);
        assert!(split("", &s).is_empty());
        assert!(split(" \n\n\t ", &s).is_empty());
        let text = "  hello world \n";
        let spans = check(text, &s);
        assert_eq!(spans.len(), 1);
        assert_eq!(&text[spans[0].clone()], "hello world");
        // Whitespace runs longer than a chunk never give blank chunks, and a
        // whitespace-only tail adds no chunk.
        let text = format!("abc{}def{}", " ".repeat(50), "\n".repeat(30));
        let s = settings_of(json!({"chunk_size": 10, "overlap": 4}));
        let chunks: Vec<_> = check(&text, &s).into_iter().map(|r| &text[r]).collect();
        assert_eq!(chunks, ["abc", "def"]);
    }

    #[test]
    fn overlap_never_makes_a_redundant_chunk() {
        // The window after the overlap "ghij" is mostly whitespace: the
        // chunk must still hold new text (`check` asserts it does).
        let text = format!("abcdefghij{}klmnopqrst", " ".repeat(5));
        let s = settings_of(json!({"chunk_size": 10, "overlap": 4}));
        let chunks: Vec<_> = check(&text, &s).into_iter().map(|r| &text[r]).collect();
        assert_eq!(chunks.first(), Some(&"abcdefghij"));
        assert_eq!(chunks.last(), Some(&"klmnopqrst"));
    }

    #[test]
    fn invariants_hold_on_generated_text() {
        // A small deterministic generator: words, spaces, newlines, multi-byte
        // characters and long whitespace runs.
        let pieces = [
            "word",
            "é",
            " ",
            "\n",
            "\n\n",
            ". ",
            "🎉",
            "longerword",
            "   ",
            "\t",
            "x",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let len = (next() % 300) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let size = 1 + (next() % 40) as usize;
            let overlap = (next() % size as u64) as usize;
            let separators: &[&str] = if round % 3 == 0 {
                &[]
            } else {
                &["\n\n", "\n", ". ", " "]
            };
            let s = settings_of(
                json!({"chunk_size": size, "overlap": overlap, "separators": separators}),
            );
            let spans = check(&text, &s);
            for pair in spans.windows(2) {
                let shared = text.get(pair[1].start..pair[0].end).map_or(0, chars);
                assert!(shared <= overlap, "{text:?} {size}/{overlap}: {shared}");
            }
        }
    }

    #[test]
    fn default_overlap_scales_with_small_chunks() {
        assert_eq!(settings_of(json!({"chunk_size": 200})).overlap, 20);
        assert_eq!(settings_of(json!({"chunk_size": 5000})).overlap, 100);
        assert_eq!(settings_of(json!({"chunk_size": 1})).overlap, 0);
    }

    #[test]
    fn config_problems() {
        let problems = testing::describe::<Split>(
            json!({"chunk_size": 10, "overlap": 10, "separators": [" ", ""]}),
        )
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/overlap", "/separators/1"]);
        assert!(problems[0].message.contains("less than chunk_size (10)"));
        let problems = testing::describe::<Split>(json!({"chunk_size": 0})).unwrap_err();
        assert_eq!(problems[0].path, "/chunk_size");
        let problems = testing::describe::<Split>(json!({"chunk_size": -1})).unwrap_err();
        assert_eq!(problems[0].path, "/chunk_size");
        let problems = testing::describe::<Split>(json!({"size": 3})).unwrap_err();
        assert_eq!(problems[0].path, "/size");
        let schema = testing::config_schema::<Split>();
        assert_eq!(schema["properties"]["chunk_size"]["default"], 1000);
    }

    #[test]
    fn node_runs() {
        let spec = testing::describe::<Split>(json!({})).unwrap();
        let ports: Vec<_> = spec.outputs.iter().map(|p| (&*p.name, &*p.ty)).collect();
        assert_eq!(ports, [("chunks", "list<string>"), ("count", "int")]);
        assert_eq!(spec.inputs[0].name, "text");
        assert!(spec.capabilities.is_empty());

        let run = testing::run::<Split>(
            json!({"chunk_size": 12, "overlap": 0}),
            &[("text", json!("Hello there. General Kenobi."))],
        );
        assert_eq!(
            run.output("chunks"),
            Some(&json!(["Hello there.", "General", "Kenobi."]))
        );
        assert_eq!(run.output("count"), Some(&json!(3)));

        let run = testing::run::<Split>(json!({}), &[("text", json!(""))]);
        assert_eq!(run.output("chunks"), Some(&json!([])));
        assert_eq!(run.output("count"), Some(&json!(0)));

        let run = testing::run::<Split>(json!({}), &[("text", json!(3))]);
        assert_eq!(run.error().unwrap().code(), "input.type");
    }
}
