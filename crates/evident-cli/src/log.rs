//! Diagnostics on stderr: `tracing` events, one line each, coloured only for a person.
//!
//! Colour (ANSI escapes) only when stderr is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>): a CI log, a file or a pipe gets plain text. Each event is one
//! line, whatever its message or fields hold (an error's text from the cluster may span
//! lines), so a log reader, `grep` and a CI annotator see one event per line.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// kube's HTTP client logs every failed request as an ERROR event of its own, and evident
/// returns the same failure as its one `error:` line: the event is left out unless the filter
/// names `kube_client` itself.
const KUBE_REQUEST_FAILURES: &str = "kube_client::client::builder=off";

/// An error and its causes as one line, `what failed: why: root cause`, each said once (a
/// cause whose text an earlier part already holds is left out): the `error:` line of a failed
/// command, and the causes inside a "no cluster" message.
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

/// Installs the subscriber with `filter` (an `EnvFilter` directive; `warn` when it does not
/// parse). `terminal`: whether stderr is a terminal.
pub fn init(filter: &str, terminal: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(with_defaults(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(with_defaults("warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(OneLineStderr)
        .with_ansi(colour(terminal, std::env::var_os("NO_COLOR").as_deref()))
        .with_target(false)
        .try_init();
}

/// `filter` plus [`KUBE_REQUEST_FAILURES`] unless it says something about `kube_client`.
fn with_defaults(filter: &str) -> String {
    if filter.contains("kube_client") { filter.to_string() } else { format!("{filter},{KUBE_REQUEST_FAILURES}") }
}

/// Whether to colour: on a terminal, unless `NO_COLOR` holds anything.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Stderr, taking each formatted event (the fmt layer writes one event per `write`) as one
/// line: line breaks inside it become ` | `.
#[derive(Debug, Clone, Copy)]
struct OneLineStderr;

impl<'a> MakeWriter<'a> for OneLineStderr {
    type Writer = OneLineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter
    }
}

#[derive(Debug)]
struct OneLineWriter;

impl Write for OneLineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().lock().write_all(&one_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `event` with inner line breaks (`\n`, `\r\n`, `\r`) replaced by ` | ` and one `\n` at the end.
fn one_line(event: &[u8]) -> Vec<u8> {
    let body = event.strip_suffix(b"\n").unwrap_or(event);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let mut line = Vec::with_capacity(body.len() + 1);
    let mut bytes = body.iter().peekable();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\r' if bytes.peek() == Some(&&b'\n') => {}
            b'\n' | b'\r' => line.extend_from_slice(b" | "),
            other => line.push(other),
        }
    }
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_line_whatever_it_holds() {
        assert_eq!(one_line(b"WARN plain\n"), b"WARN plain\n");
        assert_eq!(one_line(b"WARN a\nb\r\nc\rd\n"), b"WARN a | b | c | d\n");
        assert_eq!(one_line(b"no newline"), b"no newline\n");
    }

    #[test]
    fn kube_request_failures_are_left_to_evidents_own_error_line_unless_asked_for() {
        assert_eq!(with_defaults("warn"), "warn,kube_client::client::builder=off");
        assert_eq!(with_defaults("debug,kube_client=trace"), "debug,kube_client=trace");
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".as_ref())), "an empty NO_COLOR is unset (no-color.org)");
        assert!(!colour(true, Some("1".as_ref())));
        assert!(!colour(false, None));
    }
}
