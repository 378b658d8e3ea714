//! Text inside HTML: the one escaper the HTML page and its SVG plots share, so recorded
//! text is never markup in either.

/// Text as HTML text or a quoted attribute value: `&`, `<`, `>`, `"` and `'` become
/// references, CR becomes LF (as the HTML parser reads it), and other control characters than
/// tab and LF and the noncharacters
/// U+FFFE/U+FFFF (which HTML forbids or a terminal showing the file would obey) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            // What the HTML parser turns a CR into anyway; a raw CR would let the text
            // overwrite itself on a terminal showing the file.
            '\r' => out.push('\n'),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}
