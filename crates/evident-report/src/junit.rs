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

/// Escapes text for XML attributes and content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}
