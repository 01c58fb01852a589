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

    /// A number as RFC 8259 writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
    /// ([eE] [+-]? [0-9]+)?` — no leading zeros, no bare `.` or `e`.
    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i - from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = digits(self);
        let mut ok = n > 0 && !(n > 1 && self.s[int_start] == b'0');
        let mut float = false;
        if ok && self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            float = true;
            ok = digits(self) > 0;
        }
        if ok && matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            float = true;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            ok = digits(self) > 0;
        }
        // Whatever else sticks to the number is part of the mistake.
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        {
            self.i += 1;
            ok = false;
        }
        let t = &self.text[start..self.i];
        let bad = || SyntaxError {
            message: format!("invalid number {t:?}"),
            span: start..self.i,
        };
        if !ok {
            return Err(bad());
        }
        if float {
            // An exponent past f64's range would read as infinity.
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Kind::Float)
                .ok_or_else(bad)
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
            // from_str_radix would also take a sign (`\u+0a1`).
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
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

    /// A small deterministic generator (xorshift64*): the same cases on
    /// every run, so a failure reproduces.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }
    }

    fn ws(g: &mut Gen, out: &mut String) {
        for _ in 0..g.below(3) {
            out.push_str(g.pick(&[" ", "\n", "\t", "\r\n", ""]));
        }
    }

    fn string(g: &mut Gen, out: &mut String) {
        out.push('"');
        for _ in 0..g.below(6) {
            out.push_str(g.pick(&[
                "a",
                "Z",
                " ",
                "é",
                "😀",
                "\\\"",
                "\\\\",
                "\\/",
                "\\n",
                "\\t",
                "\\b",
                "\\f",
                "\\r",
                "\\u00e9",
                "\\u0041",
                "\\ud83d\\ude00",
                "\\uDBFF\\uDFFF",
                "key",
                ".",
            ]));
        }
        out.push('"');
    }

    fn number(g: &mut Gen, out: &mut String) {
        if g.below(3) == 0 {
            out.push('-');
        }
        out.push_str(&match g.below(4) {
            0 => g.below(10).to_string(),
            1 => (g.next() >> g.below(64)).to_string(),
            2 => format!("{}.{}", g.below(1000), g.below(1000)),
            _ => format!(
                "{}e{}{}",
                g.below(100),
                g.pick(&["", "+", "-"]),
                g.below(30)
            ),
        });
    }

    fn value(g: &mut Gen, depth: u32, out: &mut String) {
        ws(g, out);
        match g.below(if depth > 3 { 5 } else { 7 }) {
            0 => out.push_str(g.pick(&["true", "false", "null"])),
            1 | 2 => number(g, out),
            3 | 4 => string(g, out),
            5 => {
                out.push('[');
                let n = g.below(4);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    value(g, depth + 1, out);
                }
                ws(g, out);
                out.push(']');
            }
            _ => {
                out.push('{');
                let n = g.below(4);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(g, out);
                    string(g, out);
                    ws(g, out);
                    out.push(':');
                    value(g, depth + 1, out);
                }
                ws(g, out);
                out.push('}');
            }
        }
        ws(g, out);
    }

    /// Break a valid text the way a typo does: drop, double or insert a
    /// character somewhere.
    fn mutate(g: &mut Gen, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() {
            return text.to_string();
        }
        let at = g.below(chars.len() as u64) as usize;
        let mut out: Vec<char> = chars.clone();
        match g.below(3) {
            0 => {
                out.remove(at);
            }
            1 => out.insert(at, chars[at]),
            _ => {
                let c = g.pick(&[
                    "0", "-", ".", "e", "+", "\"", "\\", "u", ",", ":", "[", "}", "\u{1}",
                ]);
                out.insert(at, c.chars().next().unwrap_or('0'));
            }
        }
        out.into_iter().collect()
    }

    fn to_json(n: &Node) -> serde_json::Value {
        use serde_json::Value;
        match &n.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => Value::from(*f),
            Kind::Str(s) | Kind::Datetime(s) => Value::String(s.clone()),
            Kind::Array(a) => Value::Array(a.iter().map(to_json).collect()),
            Kind::Table(es) => Value::Object(
                es.iter()
                    .map(|e| (e.key.clone(), to_json(&e.value)))
                    .collect(),
            ),
        }
    }

    /// Equal values; floats within a rounding step (serde_json's default
    /// float parsing is not correctly rounded, Rust's is).
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs(),
                    _ => false,
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    /// Every value and key span, read on its own, is that value or key.
    fn check_spans(text: &str, n: &Node, why: &str) {
        let alone = parse_json(&text[n.span.clone()])
            .unwrap_or_else(|e| panic!("{why}: span {:?} does not parse: {e:?}", n.span));
        assert_eq!(to_json(&alone), to_json(n), "{why}: span {:?}", n.span);
        match &n.kind {
            Kind::Array(a) => a.iter().for_each(|x| check_spans(text, x, why)),
            Kind::Table(es) => {
                for e in es {
                    let k: String = serde_json::from_str(&text[e.key_span.clone()])
                        .unwrap_or_else(|err| panic!("{why}: key span {:?}: {err}", e.key_span));
                    assert_eq!(k, e.key, "{why}");
                    check_spans(text, &e.value, why);
                }
            }
            _ => {}
        }
    }

    /// What serde_json accepts that we refuse by design: duplicate keys
    /// (it keeps the last; a manifest must not say two things) and
    /// integers beyond i64 (it reads them as u64 or rounds them to f64).
    fn refused_by_design(v: &serde_json::Value, text: &str) -> bool {
        fn big(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Number(n) => n.is_u64() && n.as_i64().is_none(),
                serde_json::Value::Array(a) => a.iter().any(big),
                serde_json::Value::Object(o) => o.values().any(big),
                _ => false,
            }
        }
        let too_long_int = |e: &SyntaxError| {
            let t = text[e.span.clone()].trim_start_matches('-');
            e.message.starts_with("invalid number")
                && !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit())
                && t.parse::<i64>().is_err()
        };
        big(v)
            || parse_json(text)
                .is_err_and(|e| e.message.contains("duplicate key") || too_long_int(&e))
    }

    /// Property: the span-carrying JSON parser agrees with serde_json on
    /// what is JSON and what it means, and every span it records holds
    /// exactly its value. Valid texts and typo'd ones.
    #[test]
    fn the_json_parser_agrees_with_serde_json_and_its_spans_hold_their_values() {
        let mut g = Gen(0x5eed_0002);
        let (mut ok, mut bad) = (0, 0);
        for case in 0..20_000 {
            let mut text = String::new();
            value(&mut g, 0, &mut text);
            if g.below(3) == 0 {
                text = mutate(&mut g, &text);
            }
            let ours = parse_json(&text);
            let theirs = serde_json::from_str::<serde_json::Value>(&text);
            let why = format!("case {case}: {text:?}: ours {ours:?}, serde_json {theirs:?}");
            match (&ours, &theirs) {
                (Ok(n), Ok(v)) => {
                    assert!(same(&to_json(n), v), "{why}");
                    check_spans(&text, n, &why);
                    ok += 1;
                }
                (Err(_), Err(_)) => bad += 1,
                (Err(_), Ok(v)) if refused_by_design(v, &text) => bad += 1,
                _ => panic!("{why}"),
            }
        }
        assert!(ok > 5_000 && bad > 2_000, "ok {ok}, bad {bad}");
    }
}
