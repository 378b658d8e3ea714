//! A scanner that splits JSON text into the members of an object without building a tree.
//!
//! Redaction drops or rewrites a handful of members (`metadata.managedFields`, one
//! annotation, env values) and copies everything else verbatim. Parsing a 5 KiB pod into a
//! `serde_json::Value` and writing it back costs several times more than the rest of the
//! write path together, so redaction works on the text instead.
//!
//! The scanner trusts its input to be valid JSON (serde_json wrote it, or the API server
//! did and serde_json read it); it checks only the structure it walks through and reports
//! anything unexpected as [`ScanError`], on which callers fall back to a full parse.

/// The text is not the JSON object the scanner expected at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError {
    pub offset: usize,
}

/// One member of an object: its key (the raw text between the quotes) and its value (the
/// raw text of the value, without surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

impl Member<'_> {
    /// True when the key contains an escape, so comparing its raw text with a name is not
    /// enough to know which member it is.
    pub fn key_is_escaped(&self) -> bool {
        self.key.contains('\\')
    }
}

/// The members of the object `text`, in order. Fails when `text` is not an object.
pub fn members(text: &str) -> Result<Vec<Member<'_>>, ScanError> {
    let bytes = text.as_bytes();
    let mut at = skip_space(bytes, 0);
    expect(bytes, at, b'{')?;
    at = skip_space(bytes, at + 1);
    let mut out = Vec::with_capacity(8);
    if bytes.get(at) == Some(&b'}') {
        return end_of_text(bytes, at + 1).map(|()| out);
    }
    loop {
        expect(bytes, at, b'"')?;
        let key_end = skip_string(bytes, at)?;
        let key = &text[at + 1..key_end - 1];
        at = skip_space(bytes, key_end);
        expect(bytes, at, b':')?;
        let value_start = skip_space(bytes, at + 1);
        let value_end = skip_value(bytes, value_start)?;
        out.push(Member { key, value: &text[value_start..value_end] });
        at = skip_space(bytes, value_end);
        match bytes.get(at) {
            Some(b',') => at = skip_space(bytes, at + 1),
            Some(b'}') => return end_of_text(bytes, at + 1).map(|()| out),
            _ => return Err(ScanError { offset: at }),
        }
    }
}

/// The elements of the array `text`, in order. Fails when `text` is not an array.
pub fn elements(text: &str) -> Result<Vec<&str>, ScanError> {
    let bytes = text.as_bytes();
    let mut at = skip_space(bytes, 0);
    expect(bytes, at, b'[')?;
    at = skip_space(bytes, at + 1);
    let mut out = Vec::new();
    if bytes.get(at) == Some(&b']') {
        return end_of_text(bytes, at + 1).map(|()| out);
    }
    loop {
        let end = skip_value(bytes, at)?;
        out.push(&text[at..end]);
        at = skip_space(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_space(bytes, at + 1),
            Some(b']') => return end_of_text(bytes, at + 1).map(|()| out),
            _ => return Err(ScanError { offset: at }),
        }
    }
}

/// Writes `members` back as a compact object.
pub fn write_object<'a>(out: &mut String, members: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (index, (key, value)) in members.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        out.push_str(value);
    }
    out.push('}');
}

/// Writes `elements` back as a compact array.
pub fn write_array<'a>(out: &mut String, elements: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (index, element) in elements.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(element);
    }
    out.push(']');
}

fn expect(bytes: &[u8], at: usize, byte: u8) -> Result<(), ScanError> {
    if bytes.get(at) == Some(&byte) { Ok(()) } else { Err(ScanError { offset: at }) }
}

fn end_of_text(bytes: &[u8], at: usize) -> Result<(), ScanError> {
    let rest = skip_space(bytes, at);
    if rest == bytes.len() { Ok(()) } else { Err(ScanError { offset: rest }) }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// `at` is on an opening quote; returns the index after the closing one. Most strings in
/// Kubernetes objects are a few bytes long, where a plain loop beats a vectorised search.
fn skip_string(bytes: &[u8], at: usize) -> Result<usize, ScanError> {
    let mut at = at + 1;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => return Ok(at + 1),
            // A backslash escapes the next byte (`\uXXXX` needs no more: its digits are plain).
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    Err(ScanError { offset: bytes.len() })
}

/// `at` is on the first byte of a value; returns the index after its last byte.
fn skip_value(bytes: &[u8], at: usize) -> Result<usize, ScanError> {
    match bytes.get(at) {
        Some(b'"') => skip_string(bytes, at),
        Some(b'{' | b'[') => skip_nested(bytes, at),
        Some(_) => {
            let mut end = at;
            while !matches!(bytes.get(end), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                end += 1;
            }
            Ok(end)
        }
        None => Err(ScanError { offset: at }),
    }
}

fn skip_nested(bytes: &[u8], mut at: usize) -> Result<usize, ScanError> {
    let mut depth = 0usize;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                at = skip_string(bytes, at)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    Err(ScanError { offset: at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_members_with_nested_values_and_tricky_strings() {
        let text = r#" {"a": {"b": [1, "}]\"", {"c": null}]}, "k\"ey":"v,}" , "n":-1.5e3,"t":true } "#;
        let found = members(text).unwrap();
        let pairs: Vec<(&str, &str)> = found.iter().map(|m| (m.key, m.value)).collect();
        assert_eq!(
            pairs,
            vec![("a", r#"{"b": [1, "}]\"", {"c": null}]}"#), (r#"k\"ey"#, r#""v,}""#), ("n", "-1.5e3"), ("t", "true")]
        );
        assert!(found[1].key_is_escaped());
        assert_eq!(elements(r#"[ {"x":[1]} , "]" ,3]"#).unwrap(), vec![r#"{"x":[1]}"#, r#""]""#, "3"]);
        assert_eq!(members("{}").unwrap(), vec![]);
        assert_eq!(elements("[]").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        for text in ["[1]", "\"s\"", "null", r#"{"a":1"#, r#"{"a" 1}"#, r#"{"a":"unterminated}"#, r#"{"a":1} x"#] {
            assert!(members(text).is_err(), "{text}");
        }
    }

    #[test]
    fn round_trips_through_write_object() {
        let text = r#"{"a":{"b":[1,2]},"c":"d"}"#;
        let mut out = String::new();
        write_object(&mut out, members(text).unwrap().iter().map(|m| (m.key, m.value)));
        assert_eq!(out, text);
    }
}
