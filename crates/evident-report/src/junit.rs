//! `junit.xml`: one `<testcase>` per expectation, grouped in one `<testsuite>` named after
//! the scenario, so CI systems show each expectation as a test. A failing expectation has a
//! `<failure>` whose message is the observed text.

use crate::model::Report;

/// Renders the JUnit XML document.
pub fn render(report: &Report) -> String {
    let summary = report.summary();
    let tests = summary.passed + summary.failed;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"evident\" tests=\"{tests}\" failures=\"{}\" errors=\"0\">\n",
        summary.failed
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"0\" timestamp=\"{}\">\n",
        escape(&report.scenario_name),
        summary.failed,
        escape(&report.recorded_until)
    ));
    out.push_str(&format!(
        "    <properties>\n      <property name=\"run_id\" value=\"{}\"/>\n    </properties>\n",
        escape(&report.run_id)
    ));
    for row in &report.rows {
        for check in &row.checks {
            let classname = format!("{}.{}-{}", report.scenario_name, row.number, row.name);
            let name = check.expectation.to_string();
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n",
                escape(&classname),
                escape(&name)
            ));
            if check.outcome.passed {
                out.push_str(&format!("      <system-out>{}</system-out>\n", escape(&check.outcome.observed)));
            } else {
                out.push_str(&format!(
                    "      <failure type=\"expectation\" message=\"expected: {}; observed: {}\">{}</failure>\n",
                    escape(&row.expected),
                    escape(&check.outcome.observed),
                    escape(&check.outcome.observed)
                ));
            }
            out.push_str("    </testcase>\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Text as XML 1.0 content or a quoted attribute value: `&`, `<`, `>`, `"` and `'` become
/// references; tab, LF and CR become character references (an attribute keeps them instead of
/// folding them into spaces); every character XML 1.0 forbids (C0 controls, U+FFFE, U+FFFF)
/// and every C1 control (allowed, but a CI log printing the message would obey them) becomes
/// U+FFFD, so the document always parses.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{fffe}' | '\u{ffff}' => out.push(char::REPLACEMENT_CHARACTER),
            c if c.is_control() => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}
