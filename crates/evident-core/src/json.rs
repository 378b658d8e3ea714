//! A single-pass JSON rewriter: copies JSON text to a new string, letting the caller drop or
//! replace chosen values on the way, without building a tree.
//!
//! Redaction drops or rewrites a handful of members (`metadata.managedFields`, one
//! annotation, env values) and copies everything else verbatim. Parsing a 5 KiB pod into a
//! `serde_json::Value` and writing it back costs several times more than the rest of the
//! write path together, so redaction works on the text instead: every byte of the input is
//! looked at once, and a value nobody asked to see is copied as one slice.
//!
//! The rewriter trusts its input to be valid JSON (serde_json wrote it, or the API server
//! did and serde_json read it); it checks only the structure it walks through and reports
//! anything unexpected as `None`, on which callers fall back to a full parse.

/// Copies the JSON text it was given to [`Rewriter::finish`]'s output, value by value.
///
/// The caller walks the objects and arrays it cares about with [`Rewriter::object`] and
/// [`Rewriter::array`]; every other value is passed on with [`Rewriter::copy`], left out
/// with [`Rewriter::skip`] or replaced with [`Rewriter::take`] then [`Rewriter::write_raw`].
/// Each callback must consume exactly one value.
#[derive(Debug)]
pub struct Rewriter<'a> {
    text: &'a str,
    at: usize,
    out: String,
}

impl<'a> Rewriter<'a> {
    pub fn new(text: &'a str) -> Self {
        Rewriter { text, at: 0, out: String::with_capacity(text.len()) }
    }

    /// The rewritten text, once the whole input has been consumed (only whitespace may
    /// follow the last value).
    pub fn finish(mut self) -> Option<String> {
        self.skip_space();
        (self.at == self.text.len()).then_some(self.out)
    }

    /// True when the next value is an object.
    pub fn at_object(&mut self) -> bool {
        self.skip_space();
        self.peek() == Some(b'{')
    }

    /// True when the next value is an array.
    pub fn at_array(&mut self) -> bool {
        self.skip_space();
        self.peek() == Some(b'[')
    }

    /// Rewrites the object at the cursor as compact JSON, member by member: `member` gets
    /// each key (the raw text between its quotes) and writes or consumes its value,
    /// returning whether the member is kept. Fails on a key with an escape, which a raw
    /// comparison could not recognise.
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<bool>) -> Option<()> {
        self.expect(b'{')?;
        self.out.push('{');
        let mut written = 0usize;
        if self.next_is(b'}') {
            self.out.push('}');
            return Some(());
        }
        loop {
            self.skip_space();
            let (key, escaped) = self.string()?;
            if escaped {
                return None;
            }
            self.expect(b':')?;
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
            if self.next_is(b'}') {
                self.out.push('}');
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// Rewrites the array at the cursor as compact JSON; `element` writes each element.
    pub fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        self.out.push('[');
        if self.next_is(b']') {
            self.out.push(']');
            return Some(());
        }
        loop {
            element(self)?;
            if self.next_is(b']') {
                self.out.push(']');
                return Some(());
            }
            self.expect(b',')?;
            self.out.push(',');
        }
    }

    /// [`Rewriter::object`] when the next value is an object, else [`Rewriter::copy`].
    pub fn object_or_copy(&mut self, member: impl FnMut(&mut Self, &str) -> Option<bool>) -> Option<bool> {
        if self.at_object() { self.object(member).map(|()| true) } else { self.copy() }
    }

    /// [`Rewriter::array`] when the next value is an array, else [`Rewriter::copy`].
    pub fn array_or_copy(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<bool> {
        if self.at_array() { self.array(element).map(|()| true) } else { self.copy() }
    }

    /// Copies the next value verbatim. Returns `Some(true)`: the member is kept.
    pub fn copy(&mut self) -> Option<bool> {
        let value = self.take()?;
        self.out.push_str(value);
        Some(true)
    }

    /// Consumes the next value without writing it. Returns `Some(false)`: the member is
    /// dropped.
    pub fn skip(&mut self) -> Option<bool> {
        self.take().map(|_| false)
    }

    /// Consumes the next value and returns its raw text, for the caller to replace.
    pub fn take(&mut self) -> Option<&'a str> {
        self.skip_space();
        let start = self.at;
        self.at = skip_value(self.text.as_bytes(), start)?;
        Some(&self.text[start..self.at])
    }

    /// Writes `json` (which must be one JSON value) where the consumed value was.
    pub fn write_raw(&mut self, json: &str) {
        self.out.push_str(json);
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
                w.array(|w| value(w).map(drop)).map(|()| true)
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
}
