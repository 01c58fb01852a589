//! A format-neutral value tree that remembers where every value came from.
//!
//! TOML and JSON are both parsed into [`Node`]s carrying byte spans, and the
//! typed manifest is deserialised from those (see `de.rs`). That is what lets
//! one set of serde types serve both formats while every error still points
//! at a file, line and column.

use std::fmt;
use std::ops::Range;

/// Byte range in the source text.
pub type Span = Range<usize>;

/// A parsed value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value sits in the source.
    pub span: Span,
    /// The value.
    pub kind: Kind,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A TOML date-time, kept as text.
    Datetime(String),
    /// An array.
    Array(Vec<Node>),
    /// A table: entries in source order, each key with its own span.
    Table(Vec<Entry>),
}

/// A table entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key is written.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A key path such as `bottles.dev.egress.allowlist[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The empty (root) path.
    pub fn root() -> Self {
        Self(Vec::new())
    }
    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        Self(v)
    }
    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    match (i, bare) {
                        (0, true) => f.write_str(k)?,
                        (_, true) => write!(f, ".{k}")?,
                        (_, false) => write!(f, "[{k:?}]")?,
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Node {
    /// A short name of the value's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Str(_) => "a string",
            Kind::Datetime(_) => "a date-time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }

    /// The entry for `key` when this is a table.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Table(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Follow a key path; returns the deepest node found and whether the
    /// whole path resolved. For a path ending in a key, the key's own span is
    /// preferred by [`Node::span_of`].
    pub fn lookup(&self, path: &KeyPath) -> Option<&Node> {
        let mut cur = self;
        for seg in &path.0 {
            cur = match (seg, &cur.kind) {
                (Seg::Key(k), Kind::Table(_)) => &cur.entry(k)?.value,
                (Seg::Index(i), Kind::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The best span for an error about `path`: the value when it exists,
    /// else the nearest existing ancestor.
    pub fn span_of(&self, path: &KeyPath) -> Span {
        let mut p = path.clone();
        loop {
            if let Some(n) = self.lookup(&p) {
                return n.span.clone();
            }
            if p.0.pop().is_none() {
                return self.span.clone();
            }
        }
    }

    /// The span of the key that names `path`'s last segment, if it is a key.
    pub fn key_span_of(&self, path: &KeyPath) -> Option<Span> {
        let (last, parent) = path.0.split_last()?;
        let Seg::Key(k) = last else { return None };
        let parent = self.lookup(&KeyPath(parent.to_vec()))?;
        parent.entry(k).map(|e| e.key_span.clone())
    }
}

/// A parse failure with the byte offset where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

/// Parse TOML text into a node tree.
pub fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| SyntaxError {
        message: e.message().trim().to_string(),
        span: e.span().unwrap_or(0..0),
    })?;
    let span = 0..text.len();
    Ok(Node {
        span,
        kind: Kind::Table(toml_table(doc.get_ref())),
    })
}

fn toml_table(t: &toml::de::DeTable<'_>) -> Vec<Entry> {
    t.iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: k.span(),
            value: toml_node(v),
        })
        .collect()
}

fn toml_node(v: &toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let kind = match v.get_ref() {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Str(i.as_str().to_string()),
        },
        DeValue::Float(f) => Kind::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(d) => Kind::Datetime(d.to_string()),
        DeValue::Array(a) => Kind::Array(a.iter().map(toml_node).collect()),
        DeValue::Table(t) => Kind::Table(toml_table(t)),
    };
    Node {
        span: v.span(),
        kind,
    }
}

/// Parse JSON text into a node tree. A small hand-written parser, because
/// serde_json does not expose the span of every value.
pub fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    let mut p = JsonParser {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    p.ws();
    let node = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the JSON value"));
    }
    Ok(node)
}

struct JsonParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: usize,
}

impl JsonParser<'_> {
    fn err(&self, msg: &str) -> SyntaxError {
        SyntaxError {
            message: msg.to_string(),
            span: self.i..(self.i + 1).min(self.s.len()),
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        self.depth += 1;
        if self.depth > 128 {
            return Err(self.err("nesting is too deep"));
        }
        let start = self.i;
        let kind = match self.s.get(self.i) {
            None => return Err(self.err("unexpected end of input; expected a value")),
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Kind::Str(self.string()?),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => {
                return Err(self
                    .err("expected a value (object, array, string, number, true, false or null)"));
            }
        };
        self.depth -= 1;
        Ok(Node {
            span: start..self.i,
            kind,
        })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, SyntaxError> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err(self.err("expected a value (object, array, string, number, true, false or null)"))
        }
    }

    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let mut float = false;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'0'..=b'9' => {}
                b'.' | b'e' | b'E' | b'+' | b'-' => float = true,
                _ => break,
            }
            self.i += 1;
        }
        let t = &self.text[start..self.i];
        let bad = || SyntaxError {
            message: format!("invalid number {t:?}"),
            span: start..self.i,
        };
        if float {
            t.parse::<f64>().map(Kind::Float).map_err(|_| bad())
        } else {
            t.parse::<i64>().map(Kind::Int).map_err(|_| bad())
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid surrogate pair in \\u escape"));
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                char::from_u32(hi)
                            };
                            out.push(c.ok_or_else(|| self.err("invalid \\u escape"))?);
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err("invalid escape"));
                        }
                    }
                }
                0..=0x1f => return Err(self.err("control character in string; escape it")),
                _ => {
                    // Copy one UTF-8 character (the input is a &str, so it is valid).
                    let rest = &self.text[self.i..];
                    let c = rest.chars().next().unwrap_or('\u{fffd}');
                    out.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let h = self
            .text
            .get(self.i..self.i + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("expected four hex digits after \\u"))?;
        self.i += 4;
        Ok(h)
    }

    fn array(&mut self) -> Result<Kind, SyntaxError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Kind::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }

    fn object(&mut self) -> Result<Kind, SyntaxError> {
        self.i += 1;
        let mut entries: Vec<Entry> = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Kind::Table(entries));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a quoted key"));
            }
            let kstart = self.i;
            let key = self.string()?;
            let key_span = kstart..self.i;
            if entries.iter().any(|e| e.key == key) {
                return Err(SyntaxError {
                    message: format!("duplicate key {key:?}"),
                    span: key_span,
                });
            }
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':' after the key"));
            }
            self.i += 1;
            self.ws();
            let value = self.value()?;
            entries.push(Entry {
                key,
                key_span,
                value,
            });
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Kind::Table(entries));
                }
                _ => return Err(self.err("expected ',' or '}' in object")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_toml_agree_on_shape() {
        let t = parse_toml("[a]\nb = [1, \"x\", {c = true}]\n").unwrap();
        let j = parse_json(r#"{"a": {"b": [1, "x", {"c": true}]}}"#).unwrap();
        fn strip(n: &Node) -> Kind {
            match &n.kind {
                Kind::Array(a) => Kind::Array(
                    a.iter()
                        .map(|x| Node {
                            span: 0..0,
                            kind: strip(x),
                        })
                        .collect(),
                ),
                Kind::Table(es) => Kind::Table(
                    es.iter()
                        .map(|e| Entry {
                            key: e.key.clone(),
                            key_span: 0..0,
                            value: Node {
                                span: 0..0,
                                kind: strip(&e.value),
                            },
                        })
                        .collect(),
                ),
                k => k.clone(),
            }
        }
        assert_eq!(strip(&t), strip(&j));
    }

    #[test]
    fn lookup_and_spans() {
        let text = r#"{"a": {"b": ["x", "yy"]}}"#;
        let n = parse_json(text).unwrap();
        let p = KeyPath::root().key("a").key("b").index(1);
        assert_eq!(&text[n.span_of(&p)], "\"yy\"");
        assert_eq!(p.to_string(), "a.b[1]");
        let missing = KeyPath::root().key("a").key("zz");
        assert_eq!(&text[n.span_of(&missing)], r#"{"b": ["x", "yy"]}"#);
        assert_eq!(
            &text[n.key_span_of(&KeyPath::root().key("a")).unwrap()],
            "\"a\""
        );
    }

    #[test]
    fn json_errors_have_positions() {
        let e = parse_json("{\"a\": [1, 2}").unwrap_err();
        assert_eq!(e.span.start, 11);
        assert!(
            parse_json(r#"{"a": 1, "a": 2}"#)
                .unwrap_err()
                .message
                .contains("duplicate")
        );
        assert!(parse_json(r#""\ud800""#).is_err());
        assert_eq!(
            parse_json(r#""\u00e9\ud83d\ude00""#).unwrap().kind,
            Kind::Str("é😀".into())
        );
    }

    #[test]
    fn path_display_quotes_odd_keys() {
        let p = KeyPath::root().key("env").key("A.B");
        assert_eq!(p.to_string(), "env[\"A.B\"]");
    }
}
