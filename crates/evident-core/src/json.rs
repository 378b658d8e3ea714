//! A single-pass JSON rewriter: copies JSON text to a new string, letting the caller drop or
//! replace chosen values on the way, without building a tree; and its read-only cursor,
//! [`Reader`], which picks values out of the text without copying it. Code that only reads
//! (the typed columns) is written once against [`Cursor`], the walk both share, and runs
//! on either.
//!
//! Redaction drops or rewrites a handful of members (`metadata.managedFields`, one
//! annotation, env values) and copies everything else verbatim. Parsing a 5 KiB pod into a
//! `serde_json::Value` and writing it back costs several times more than the rest of the
//! write path together, so redaction works on the text instead: every byte of the input is
//! looked at once, and a value nobody asked to see is copied as one slice.
//!
//! Both trust their input to be valid JSON (serde_json wrote it, or the API server did and
//! serde_json read it); they check only the structure they walk through and report
//! anything unexpected as `None`, on which callers fall back to a full parse.

use std::borrow::Cow;

/// Copies the JSON text it was given to [`Rewriter::finish`]'s output, value by value.
///
/// The caller walks the objects and arrays it cares about with [`Rewriter::object`] and
/// [`Rewriter::array`]; every other value is passed on with [`Rewriter::copy`], left out
/// with [`Rewriter::skip`] or replaced with [`Rewriter::take`] then [`Rewriter::write_raw`].
/// Each callback must consume exactly one value.
#[derive(Debug)]
pub struct Rewriter<'a> {
    input: Reader<'a>,
    out: String,
}

impl<'a> Rewriter<'a> {
    pub fn new(text: &'a str) -> Self {
        Rewriter { input: Reader::new(text), out: String::with_capacity(text.len()) }
    }

    /// The rewritten text, once the whole input has been consumed (only whitespace may
    /// follow the last value).
    pub fn finish(mut self) -> Option<String> {
        self.input.skip_space();
        (self.input.at == self.input.text.len()).then_some(self.out)
    }

    /// True when the next value is an object.
    pub fn at_object(&mut self) -> bool {
        self.input.skip_space();
        self.input.peek() == Some(b'{')
    }

    /// True when the next value is an array.
    pub fn at_array(&mut self) -> bool {
        self.input.skip_space();
        self.input.peek() == Some(b'[')
    }

    /// Rewrites the object at the cursor as compact JSON, member by member: `member` gets
    /// each key (the raw text between its quotes) and writes or consumes its value,
    /// returning whether the member is kept. Fails on a key with an escape, which a raw
    /// comparison could not recognise.
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<bool>) -> Option<()> {
        self.input.expect(b'{')?;
        self.out.push('{');
        let mut written = 0usize;
        if self.input.next_is(b'}') {
            self.out.push('}');
            return Some(());
        }
        loop {
            self.input.skip_space();
            let (key, escaped) = self.input.string()?;
            if escaped {
                return None;
            }
            self.input.expect(b':')?;
            let mark = self.out.len();
            if written > 0 {
                self.out.push(',');
            }
            self.out.push('"');
            self.out.push_str(key);
            self.out.push_str("\":");
            if member(self, key)? {
                written += 1;
            } else {
                self.out.truncate(mark);
            }
            if self.input.next_is(b'}') {
                self.out.push('}');
                return Some(());
            }
            self.input.expect(b',')?;
        }
    }

    /// Rewrites the array at the cursor as compact JSON; `element` writes each element (its
    /// `bool` is ignored: every element is kept).
    pub fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<bool>) -> Option<()> {
        self.input.expect(b'[')?;
        self.out.push('[');
        if self.input.next_is(b']') {
            self.out.push(']');
            return Some(());
        }
        loop {
            element(self)?;
            if self.input.next_is(b']') {
                self.out.push(']');
                return Some(());
            }
            self.input.expect(b',')?;
            self.out.push(',');
        }
    }

    /// [`Rewriter::object`] when the next value is an object, else [`Rewriter::copy`].
    pub fn object_or_copy(&mut self, member: impl FnMut(&mut Self, &'a str) -> Option<bool>) -> Option<bool> {
        if self.at_object() { self.object(member).map(|()| true) } else { self.copy() }
    }

    /// [`Rewriter::array`] when the next value is an array, else [`Rewriter::copy`].
    pub fn array_or_copy(&mut self, element: impl FnMut(&mut Self) -> Option<bool>) -> Option<bool> {
        if self.at_array() { self.array(element).map(|()| true) } else { self.copy() }
    }

    /// Copies the next value verbatim. Returns `Some(true)`: the member is kept.
    pub fn copy(&mut self) -> Option<bool> {
        self.pass()
    }

    /// Consumes the next value without writing it. Returns `Some(false)`: the member is
    /// dropped.
    pub fn skip(&mut self) -> Option<bool> {
        self.take().map(|_| false)
    }

    /// Consumes the next value and returns its raw text, for the caller to replace.
    pub fn take(&mut self) -> Option<&'a str> {
        self.input.take()
    }

    /// Writes `json` (which must be one JSON value) where the consumed value was.
    pub fn write_raw(&mut self, json: &str) {
        self.out.push_str(json);
    }
}

/// The walk a [`Reader`] and a [`Rewriter`] share, so one reading of the text (the typed
/// columns' `Facts`) can run on either: alone, or while the rewriter redacts. A rewriter
/// keeps in its output every value the walk passes over or reads.
pub trait Cursor<'a> {
    /// Consumes the next value if it is `null`.
    fn null(&mut self) -> bool;

    /// Walks the object at the cursor: `member` gets each key and consumes its value,
    /// returning `Some(true)` to go on (a reader stops on `false`, a rewriter drops the
    /// member).
    fn object(&mut self, member: impl FnMut(&mut Self, &str) -> Option<bool>) -> Option<()>;

    /// Walks the array at the cursor: `element` consumes each element.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<bool>) -> Option<()>;

    /// Consumes the next value and returns its raw text.
    fn value(&mut self) -> Option<&'a str>;

    /// Consumes the next value. Returns `Some(true)`: go on.
    fn pass(&mut self) -> Option<bool> {
        self.value().map(|_| true)
    }
}

impl<'a> Cursor<'a> for Reader<'a> {
    fn null(&mut self) -> bool {
        Reader::null(self)
    }

    fn object(&mut self, member: impl FnMut(&mut Self, &str) -> Option<bool>) -> Option<()> {
        Reader::object(self, member)
    }

    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<bool>) -> Option<()> {
        Reader::array(self, element)
    }

    fn value(&mut self) -> Option<&'a str> {
        self.take()
    }
}

impl<'a> Cursor<'a> for Rewriter<'a> {
    fn null(&mut self) -> bool {
        let null = self.input.null();
        if null {
            self.out.push_str("null");
        }
        null
    }

    fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<bool>) -> Option<()> {
        Rewriter::object(self, |w, key| member(w, key))
    }

    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<bool>) -> Option<()> {
        Rewriter::array(self, element)
    }

    /// Copies the next value and returns its raw text.
    fn value(&mut self) -> Option<&'a str> {
        let value = self.take()?;
        self.out.push_str(value);
        Some(value)
    }
}

/// Reads JSON text without copying it, value by value, as the [`Rewriter`] walks it: the
/// caller descends into the objects and arrays it cares about with [`Reader::object`] and
/// [`Reader::array`], and takes or skips every other value. Each callback must consume
/// exactly one value. Like the rewriter, it trusts the text to be JSON and checks only the
/// structure it walks; anything unexpected is `None`.
#[derive(Debug)]
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader { text, at: 0 }
    }

    /// Reads the object at the cursor: `member` gets each key (unescaped) and consumes its
    /// value, returning whether to go on. After `Some(false)` the reader stays inside the
    /// object: the caller is done with the text.
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<bool>) -> Option<()> {
        self.expect(b'{')?;
        if self.next_is(b'}') {
            return Some(());
        }
        loop {
            self.skip_space();
            let start = self.at;
            let (raw, escaped) = self.string()?;
            let key = if escaped { string(&self.text[start..self.at])? } else { Cow::Borrowed(raw) };
            self.expect(b':')?;
            if !member(self, &key)? {
                return Some(());
            }
            if self.next_is(b'}') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// Reads the array at the cursor: `element` consumes each element, returning whether to
    /// go on (as in [`Reader::object`]).
    pub fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<bool>) -> Option<()> {
        self.expect(b'[')?;
        if self.next_is(b']') {
            return Some(());
        }
        loop {
            if !element(self)? {
                return Some(());
            }
            if self.next_is(b']') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// Consumes the next value and returns its raw text.
    pub fn take(&mut self) -> Option<&'a str> {
        self.skip_space();
        let start = self.at;
        self.at = skip_value(self.text.as_bytes(), start)?;
        Some(&self.text[start..self.at])
    }

    /// Consumes the next value if it is `null`.
    pub fn null(&mut self) -> bool {
        self.skip_space();
        let null = self.text.as_bytes()[self.at..].starts_with(b"null");
        if null {
            self.at += 4;
        }
        null
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// Consumes `byte` if it comes next (after whitespace).
    fn next_is(&mut self, byte: u8) -> bool {
        self.expect(byte).is_some()
    }

    /// Consumes a string; returns its raw contents and whether they hold an escape.
    fn string(&mut self) -> Option<(&'a str, bool)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let (end, escaped) = skip_string(self.text.as_bytes(), self.at)?;
        let raw = &self.text[self.at + 1..end - 1];
        self.at = end;
        Some((raw, escaped))
    }
}

/// The contents of a JSON string given as raw text (quotes included), borrowed unless it
/// holds escapes; `None` when `raw` is not a string.
pub fn string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') { serde_json::from_str(raw).ok().map(Cow::Owned) } else { Some(Cow::Borrowed(inner)) }
}

/// `at` is on the first byte of a value; returns the index after its last byte.
fn skip_value(bytes: &[u8], at: usize) -> Option<usize> {
    match *bytes.get(at)? {
        b'"' => skip_string(bytes, at).map(|(end, _)| end),
        b'{' | b'[' => skip_nested(bytes, at),
        b',' | b'}' | b']' | b':' => None,
        _ => {
            let mut end = at;
            while !matches!(bytes.get(end), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                end += 1;
            }
            Some(end)
        }
    }
}

/// `at` is on `{` or `[`; returns the index after the bracket that closes it.
fn skip_nested(bytes: &[u8], mut at: usize) -> Option<usize> {
    let mut depth = 0usize;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                at = skip_string(bytes, at)?.0;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// High bit set in each byte of `word` equal to `byte`. Only the lowest set bit is exact
/// (a borrow can mark a byte above a match), which is all [`skip_string`] reads.
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// `at` is on an opening quote; returns the index after the closing one, and whether the
/// string holds an escape. Looks at eight bytes at a time for a quote or a backslash.
fn skip_string(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut at = at + 1;
    let mut escaped = false;
    loop {
        while let Some(chunk) = bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let hits = bytes_equal(word, b'"') | bytes_equal(word, b'\\');
            if hits != 0 {
                at += hits.trailing_zeros() as usize / 8;
                break;
            }
            at += 8;
        }
        match *bytes.get(at)? {
            b'"' => return Some((at + 1, escaped)),
            // A backslash escapes the next byte (`\uXXXX` needs no more: its digits are plain).
            b'\\' => {
                escaped = true;
                at += 2;
            }
            _ => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies `text` through the rewriter, walking every object and array.
    fn walk(text: &str) -> Option<String> {
        fn value(w: &mut Rewriter<'_>) -> Option<bool> {
            if w.at_object() {
                w.object(|w, _| value(w)).map(|()| true)
            } else if w.at_array() {
                w.array(value).map(|()| true)
            } else {
                w.copy()
            }
        }
        let mut w = Rewriter::new(text);
        value(&mut w)?;
        w.finish()
    }

    #[test]
    fn copies_nested_values_and_tricky_strings() {
        let text = r#" {"a": {"b": [1, "}]\"", {"c": null}]}, "n":-1.5e3,"t":true , "s": "long string with no escapes at all, longer than a word \\"} "#;
        let compact = r#"{"a":{"b":[1,"}]\"",{"c":null}]},"n":-1.5e3,"t":true,"s":"long string with no escapes at all, longer than a word \\"}"#;
        assert_eq!(walk(text).as_deref(), Some(compact));
        assert_eq!(walk("{}").as_deref(), Some("{}"));
        assert_eq!(walk("[ ]").as_deref(), Some("[]"));
    }

    #[test]
    fn finds_quotes_and_backslashes_at_every_offset_of_a_word() {
        for pad in 0..20 {
            let filler = "x".repeat(pad);
            let text = format!(r#"{{"k":"{filler}\"{filler}","m":["{filler}"]}}"#);
            assert_eq!(walk(&text).as_deref(), Some(text.as_str()), "{text}");
        }
    }

    #[test]
    fn drops_and_replaces_members() {
        let text = r#"{"drop":{"x":[1,2]},"keep":"k","swap":"old","last":{"drop":1}}"#;
        let mut w = Rewriter::new(text);
        w.object(|w, key| match key {
            "drop" => w.skip(),
            "swap" => {
                w.take()?;
                w.write_raw("\"new\"");
                Some(true)
            }
            "last" => w.object_or_copy(|w, key| if key == "drop" { w.skip() } else { w.copy() }),
            _ => w.copy(),
        })
        .unwrap();
        assert_eq!(w.finish().unwrap(), r#"{"keep":"k","swap":"new","last":{}}"#);
    }

    #[test]
    fn refuses_escaped_keys_and_broken_structure() {
        for text in
            [r#"{"k\"ey":1}"#, r#"{"a":1"#, r#"{"a" 1}"#, r#"{"a":"unterminated}"#, r#"{"a":1} x"#, r#"{"a":}"#, "[1,]"]
        {
            assert_eq!(walk(text), None, "{text}");
        }
    }

    #[test]
    fn reads_values_in_place_and_stops_when_asked() {
        let text = r#" { "a" : [1, {"b":"}"}, null] , "k\u0065y":"v\"1", "c":null } "#;
        let mut seen = Vec::new();
        let mut reader = Reader::new(text);
        reader
            .object(|r, key| {
                let value = if key == "a" {
                    let mut items = Vec::new();
                    r.array(|r| {
                        items.push(if r.null() { "(null)" } else { r.take()? });
                        Some(true)
                    })?;
                    items.join("|")
                } else {
                    r.take()?.to_string()
                };
                seen.push((key.to_string(), value));
                Some(true)
            })
            .unwrap();
        assert_eq!(
            seen,
            [("a", r#"1|{"b":"}"}|(null)"#), ("key", r#""v\"1""#), ("c", "null")].map(|(k, v)| (k.into(), v.into()))
        );
        assert_eq!(string(&seen[1].1).as_deref(), Some("v\"1"));
        assert!(matches!(string(r#""plain""#), Some(Cow::Borrowed("plain"))));
        assert_eq!(string("null"), None);

        let mut count = 0;
        Reader::new(r#"{"a":1,"b":2,"c":"#)
            .object(|r, _| {
                count += 1;
                r.pass()?;
                Some(count < 2)
            })
            .unwrap();
        assert_eq!(count, 2, "the walk ends where the caller stops it, before the broken tail");
        Reader::new("{}").object(|_, _| unreachable!()).unwrap();
        Reader::new("[ ]").array(|_| unreachable!()).unwrap();
        for text in ["[1]", r#"{"a":1"#, r#"{"a" 1}"#, r#"{"a":1 "b":2}"#, r#"{a:1}"#, ""] {
            assert_eq!(Reader::new(text).object(|r, _| r.pass()), None, "{text}");
        }
        for text in ["{}", "[1", "[1 2]", "[,]"] {
            assert_eq!(Reader::new(text).array(|r| r.pass()), None, "{text}");
        }
    }
}
