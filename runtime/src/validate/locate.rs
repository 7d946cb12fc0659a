//! Maps JSON pointers to line and column in the source text, so every
//! diagnostic can say where in the file its problem is.
//!
//! A small scanner over text that is already known to be valid JSON (it
//! runs after `serde_json` accepted the document). For an object member the
//! recorded position is the member's key, which is where a reader looks.

use std::collections::HashMap;

/// Pointer → (line, column), both 1-based; columns count characters.
#[derive(Debug, Default)]
pub struct Locations {
    map: HashMap<String, (u32, u32)>,
}

impl Locations {
    pub fn scan(text: &str) -> Locations {
        let mut s = Scanner {
            chars: text.chars().peekable(),
            line: 1,
            col: 1,
            out: HashMap::new(),
        };
        s.skip_ws();
        let pos = (s.line, s.col);
        s.value(String::new(), pos);
        Locations { map: s.out }
    }

    /// The position of `pointer`, or of its nearest ancestor that has one.
    pub fn find(&self, pointer: &str) -> Option<(u32, u32)> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some(*pos);
            }
            if p.is_empty() {
                return None;
            }
            p = match p.rfind('/') {
                Some(i) => &p[..i],
                None => "",
            };
        }
    }
}

struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    col: u32,
    out: HashMap<String, (u32, u32)>,
}

impl Scanner<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
    }

    /// Records `pointer` at `pos` (the key of a member, or the value's own
    /// start for array items and the root), then scans the value.
    fn value(&mut self, pointer: String, pos: (u32, u32)) {
        self.out.entry(pointer.clone()).or_insert(pos);
        match self.chars.peek() {
            Some('{') => {
                self.bump();
                loop {
                    self.skip_ws();
                    match self.chars.peek() {
                        Some('}') => {
                            self.bump();
                            return;
                        }
                        Some(',') => {
                            self.bump();
                            continue;
                        }
                        Some('"') => {
                            let key_pos = (self.line, self.col);
                            let key = self.string();
                            self.skip_ws();
                            if self.chars.peek() == Some(&':') {
                                self.bump();
                            }
                            self.skip_ws();
                            let child = format!("{pointer}/{}", escape(&key));
                            self.value(child, key_pos);
                        }
                        Some(_) => {
                            self.bump();
                        }
                        None => return,
                    }
                }
            }
            Some('[') => {
                self.bump();
                let mut index = 0usize;
                loop {
                    self.skip_ws();
                    match self.chars.peek() {
                        Some(']') => {
                            self.bump();
                            return;
                        }
                        Some(',') => {
                            self.bump();
                        }
                        Some(_) => {
                            let item_pos = (self.line, self.col);
                            self.value(format!("{pointer}/{index}"), item_pos);
                            index += 1;
                        }
                        None => return,
                    }
                }
            }
            Some('"') => {
                self.string();
            }
            Some(_) => {
                while self
                    .chars
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    self.bump();
                }
            }
            None => {}
        }
    }

    fn string(&mut self) -> String {
        let mut s = String::new();
        self.bump(); // opening quote
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(e) = self.bump() {
                        match e {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            'u' => {
                                let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                                if let Some(ch) =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                                {
                                    s.push(ch);
                                }
                            }
                            other => s.push(other),
                        }
                    }
                }
                c => s.push(c),
            }
        }
        s
    }
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_items() {
        let text = "{\n  \"nodes\": [\n    {\"id\": \"a\"},\n    {\"id\": \"b\", \"config\": {\"x/y\": 1}}\n  ]\n}";
        let loc = Locations::scan(text);
        assert_eq!(loc.find("/nodes"), Some((2, 3)));
        assert_eq!(loc.find("/nodes/1"), Some((4, 5)));
        assert_eq!(loc.find("/nodes/1/id"), Some((4, 6)));
        assert_eq!(loc.find("/nodes/1/config/x~1y"), Some((4, 28)));
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(loc.find("/nodes/0/missing"), Some((3, 5)));
        assert_eq!(loc.find(""), Some((1, 1)));
    }
}
