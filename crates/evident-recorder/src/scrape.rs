//! Scraping Prometheus text endpoints (`evident record --metrics <url>`) at a fixed interval.
//!
//! The client is hyper's HTTP/1.1 client connection (already in the build through kube) over
//! a tokio `TcpStream`: one GET per connection (`Connection: close`), a body delimited by
//! `Content-Length`, `Transfer-Encoding: chunked` or the end of the connection, read up to
//! [`MAX_BODY_BYTES`]. Exporters serve plain `http://` on a pod or node port, so TLS,
//! redirects and compression are out of scope (no `Accept-Encoding` is sent, so a server has
//! no reason to compress).
//!
//! A failing scrape (refused, timed out, HTTP error, unreadable or oversized response) is
//! reported to the caller as a [`ScrapeResult`] with an error and the next scrape happens on
//! schedule: a dead exporter never stops a recording.
//!
//! Secrets in URLs: an endpoint's [`Endpoint::url`], the only form of the URL that is written
//! anywhere (the `endpoint` column, `run.json`, the report, logs), has every query value that
//! looks secret replaced by its hash ([`redact_url`]); only the request itself carries it.

use std::sync::OnceLock;
use std::time::Duration;

use evident_core::redact::{KEY_BYTES, Redactor};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

use crate::metric_store::{MAX_BODY_BYTES, Scrape};
use crate::record::MAX_URL_BYTES;

/// Why a scrape failed or an endpoint is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    /// The URL is not a plain `http://host[:port][/path]` URL. `url` is redacted and
    /// shortened for showing.
    #[error("metrics endpoint `{url}`: {why}")]
    BadUrl { url: String, why: String },
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Io(String),
    /// The endpoint did not answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint answered with a status other than 2xx.
    #[error("HTTP status {0}")]
    Status(String),
    /// The response is not valid HTTP/1.x, or too large.
    #[error("invalid HTTP response: {0}")]
    Response(String),
}

pub type Result<T, E = ScrapeError> = std::result::Result<T, E>;

/// A parsed `http://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as given with secrets redacted ([`redact_url`]): the `endpoint` column of
    /// every sample scraped from it, and its name in `run.json`.
    pub url: String,
    /// `host:port` to connect to (brackets kept around an IPv6 address).
    pub authority: String,
    /// Path and query as given (secrets included: only the request carries them), at least
    /// `/`.
    pub target: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path][?query]`; the port defaults to 80. Refuses URLs
    /// longer than 64 KiB, and control characters or spaces anywhere (a CR/LF would end the
    /// request line).
    pub fn parse(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| ScrapeError::BadUrl { url: shown(url), why: why.to_string() };
        if url.len() > MAX_URL_BYTES {
            return Err(bad(&format!("is {} bytes long; at most {MAX_URL_BYTES} can be recorded", url.len())));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains a space or a control character (such as CR or LF); percent-encode it"));
        }
        if url.starts_with("https://") {
            return Err(bad(
                "only plain http:// endpoints can be scraped; reach the exporter through a plain-HTTP port (e.g. kubectl port-forward)",
            ));
        }
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("must start with http://"))?;
        let (host_port, target) = match rest.find(['/', '?', '#']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_string()),
        };
        let target = match target.split('#').next() {
            Some(path) if !path.is_empty() => path.to_string(),
            _ => "/".to_string(),
        };
        if host_port.is_empty() || host_port.contains('@') {
            return Err(bad("needs a host, without user info"));
        }
        // A colon inside `[...]` belongs to an IPv6 address, not to a port.
        let port_at = host_port.rfind(':').filter(|colon| !host_port[*colon..].contains(']'));
        let authority = match port_at {
            Some(colon) => {
                let port = host_port.get(colon + 1..).unwrap_or_default();
                port.parse::<u16>().map_err(|_| bad("has a port that is not a number from 0 to 65535"))?;
                host_port.to_string()
            }
            None => format!("{host_port}:80"),
        };
        if target.parse::<hyper::Uri>().is_err() || authority.parse::<hyper::http::uri::Authority>().is_err() {
            return Err(bad("is not a valid URL (percent-encode special characters)"));
        }
        Ok(Endpoint { url: redact_url(url), authority, target })
    }
}

/// Query parameter names whose values are taken as secrets, as substrings of the lowercased
/// name: `token`, `access_token`, `api_key`, `X-Amz-Signature`, `password`, ...
const SECRET_NAMES: &[&str] =
    &["token", "secret", "passw", "pwd", "key", "auth", "sig", "credential", "session", "jwt", "bearer", "cookie"];

/// The hash of a secret in a metrics URL: keyed like the recorder's redaction (policy
/// redact-v2), with a key drawn once per process from the operating system's random number
/// generator and never written, so a recorded hash cannot be tested against guesses (an
/// unkeyed hash of a short token could). Equal tokens hash equally within one process. Should
/// the random number generator fail, the value is dropped: `redacted`.
pub fn hash_value(value: &str) -> String {
    static REDACTOR: OnceLock<Option<Redactor>> = OnceLock::new();
    let redactor = REDACTOR.get_or_init(|| {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).ok().map(|()| Redactor::from_key(key))
    });
    match redactor {
        Some(redactor) => redactor.hash(value),
        None => "redacted".to_string(),
    }
}

/// `url` with every query (and fragment) value that looks secret replaced by its hash
/// (`hmac:<key id>:<16 hex digits>`, see [`hash_value`]: two different tokens stay two
/// endpoints) and any user info replaced by `***`. A value looks secret when its name contains one of
/// [`SECRET_NAMES`], or when it is long and random-looking: 16 characters or more, letters
/// and digits mixed (API keys, JWTs).
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.find(['?', '#']) {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let mut redacted = redact_userinfo(before_query);
    let mut rest = query;
    while let Some(separator) = rest.chars().next() {
        redacted.push(separator);
        rest = &rest[separator.len_utf8()..];
        let end = rest.find(['&', ';', '#', '?']).unwrap_or(rest.len());
        let (pair, tail) = rest.split_at(end);
        match pair.split_once('=') {
            Some((name, value)) if looks_secret(name, value) => {
                redacted.push_str(name);
                redacted.push('=');
                redacted.push_str(&hash_value(value));
            }
            None if looks_secret("", pair) => redacted.push_str(&hash_value(pair)),
            _ => redacted.push_str(pair),
        }
        rest = tail;
    }
    redacted
}

fn redact_userinfo(before_query: &str) -> String {
    let Some(scheme_end) = before_query.find("://").map(|at| at + 3) else { return before_query.to_string() };
    let authority_end = before_query[scheme_end..].find('/').map_or(before_query.len(), |at| scheme_end + at);
    match before_query[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &before_query[..scheme_end], &before_query[scheme_end + at..]),
        None => before_query.to_string(),
    }
}

fn looks_secret(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let random_looking = value.len() >= 16
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && value.chars().any(|c| c.is_ascii_digit());
    !value.is_empty() && (SECRET_NAMES.iter().any(|secret| name.contains(secret)) || random_looking)
}

/// A URL as an error message shows it: redacted, and at most 200 characters.
fn shown(url: &str) -> String {
    let redacted = redact_url(url);
    if redacted.chars().count() <= 200 {
        return redacted.escape_debug().to_string();
    }
    format!("{}…", redacted.chars().take(200).collect::<String>().escape_debug())
}

/// The outcome of one scrape of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeResult {
    pub endpoint: String,
    /// When the request was sent, ns since the Unix epoch (UTC).
    pub scraped_at_ns: i64,
    /// The response body, or why there is none.
    pub outcome: Result<String>,
}

impl ScrapeResult {
    /// The scrape to record, if the endpoint answered.
    pub fn into_scrape(self) -> Result<Scrape> {
        let text = self.outcome?;
        Ok(Scrape { endpoint: self.endpoint, scraped_at_ns: self.scraped_at_ns, text })
    }
}

/// Scrapes `endpoint` every `interval` (the first time at once) until `report` returns false.
/// Each request may take at most `timeout`. A slow scrape delays the next one rather than
/// overlapping it.
pub async fn follow<Sent: std::future::Future<Output = bool>>(
    endpoint: Endpoint,
    interval: Duration,
    timeout: Duration,
    mut report: impl FnMut(ScrapeResult) -> Sent,
) {
    // tokio's interval panics on zero; no exporter is worth scraping more than 10 times a second.
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let scraped_at_ns = crate::clock::now_ns();
        let outcome = get(&endpoint, timeout).await;
        if !report(ScrapeResult { endpoint: endpoint.url.clone(), scraped_at_ns, outcome }).await {
            return;
        }
    }
}

/// One GET of the endpoint; the body of a 2xx answer as text.
pub async fn get(endpoint: &Endpoint, timeout: Duration) -> Result<String> {
    match tokio::time::timeout(timeout, get_unbounded(endpoint)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ScrapeError::Timeout(timeout)),
    }
}

async fn get_unbounded(endpoint: &Endpoint) -> Result<String> {
    let stream = TcpStream::connect(&endpoint.authority)
        .await
        .map_err(|error| ScrapeError::Io(format!("connect to {}: {error}", endpoint.authority)))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(failed("start HTTP"))?;
    let request = hyper::Request::get(endpoint.target.as_str())
        .header(HOST, endpoint.authority.as_str())
        .header(USER_AGENT, concat!("evident/", env!("CARGO_PKG_VERSION")))
        .header(ACCEPT, "text/plain;version=0.0.4")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(failed("build the request"))?;
    let exchange = async move {
        let response = sender.send_request(request).await.map_err(failed("read the response"))?;
        let status = response.status();
        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or_default();
            return Err(ScrapeError::Status(format!("{} {reason}", status.as_u16()).trim_end().to_string()));
        }
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES).collect().await.map_err(|error| {
            if error.downcast_ref::<LengthLimitError>().is_some() {
                ScrapeError::Response(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
            } else {
                ScrapeError::Response(format!("reading the body: {}", one_line(error.as_ref())))
            }
        })?;
        String::from_utf8(body.to_bytes().to_vec())
            .map_err(|_| ScrapeError::Response("the body is not UTF-8 text".into()))
    };
    // The connection does the IO of the exchange; it ends with it (`Connection: close`).
    tokio::pin!(exchange);
    tokio::select! {
        outcome = &mut exchange => outcome,
        _ = connection => exchange.await,
    }
}

/// An error of hyper as a [`ScrapeError`]: what was being done, and the whole cause chain.
fn failed<E: std::error::Error>(action: &'static str) -> impl FnOnce(E) -> ScrapeError {
    move |error| ScrapeError::Response(format!("{action}: {}", one_line(&error)))
}

fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    use super::*;

    #[test]
    fn endpoints_parse_with_default_port_and_path() {
        let endpoint = Endpoint::parse("http://127.0.0.1:9400/metrics").unwrap();
        assert_eq!((endpoint.authority.as_str(), endpoint.target.as_str()), ("127.0.0.1:9400", "/metrics"));
        let endpoint = Endpoint::parse("http://exporter").unwrap();
        assert_eq!((endpoint.authority.as_str(), endpoint.target.as_str()), ("exporter:80", "/"));
        let endpoint = Endpoint::parse("http://[::1]:9400?x=1").unwrap();
        assert_eq!((endpoint.authority.as_str(), endpoint.target.as_str()), ("[::1]:9400", "/?x=1"));
        assert_eq!(Endpoint::parse("http://[::1]/m").unwrap().authority, "[::1]:80");
        for bad in ["https://x/metrics", "ftp://x", "http://", "http://a:b/", "http://u@h/", "http://h:99999/"] {
            assert!(matches!(Endpoint::parse(bad), Err(ScrapeError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn a_url_that_would_break_the_request_line_or_cannot_be_recorded_is_refused() {
        for bad in [
            "http://h/metrics\r\nX-Injected: 1",
            "http://h/metrics\nGET /other",
            "http://h/metr ics",
            "http://h/\u{0}",
            "http://h\r\n/metrics",
        ] {
            let error = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(error.contains("control character"), "{bad:?}: {error}");
            assert!(!error.contains('\n') && !error.contains('\r'), "one line: {error:?}");
        }
        let long = format!("http://h/metrics?{}", "a".repeat(70_000));
        let error = Endpoint::parse(&long).unwrap_err().to_string();
        assert!(error.contains("at most 65535 can be recorded") && error.len() < 400, "{error}");
    }

    #[test]
    fn secrets_in_a_url_are_redacted_everywhere_it_is_written() {
        let endpoint = Endpoint::parse(
            "http://h:9400/metrics?token=CANARY-1&collect[]=DCGM_FI_DEV_GPU_UTIL&Api_Key=CANARY-2&x=AbCdEf0123456789CANARY3",
        )
        .unwrap();
        assert!(endpoint.target.contains("token=CANARY-1"), "the request still carries it");
        assert!(!endpoint.url.contains("CANARY"), "{}", endpoint.url);
        assert_eq!(
            endpoint.url,
            format!(
                "http://h:9400/metrics?token={}&collect[]=DCGM_FI_DEV_GPU_UTIL&Api_Key={}&x={}",
                hash_value("CANARY-1"),
                hash_value("CANARY-2"),
                hash_value("AbCdEf0123456789CANARY3")
            )
        );
        assert_eq!(redact_url("http://h/metrics?gpu=0&short=abc1"), "http://h/metrics?gpu=0&short=abc1");
        assert_eq!(redact_url("http://user:CANARY@h/m"), "http://***@h/m");
        let error = Endpoint::parse("http://user:CANARY@h/m").unwrap_err().to_string();
        assert!(!error.contains("CANARY"), "{error}");
        let error = Endpoint::parse("http://h/m?token=CANARY&bad=\n").unwrap_err().to_string();
        assert!(!error.contains("CANARY"), "{error}");
    }

    /// Serves `response` as the answer to the first connection (after reading the request
    /// head), then closes the connection.
    fn serve_once(response: Vec<u8>) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|read| read == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(&response);
        });
        Endpoint::parse(&format!("http://127.0.0.1:{port}/metrics")).unwrap()
    }

    async fn answer(response: &[u8]) -> Result<String> {
        get(&serve_once(response.to_vec()), Duration::from_secs(10)).await
    }

    #[tokio::test]
    async fn bodies_by_length_chunks_or_close() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nup 1\nEXTRA";
        assert_eq!(answer(sized).await.unwrap(), "up 1\n");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nup \r\n2\r\n1\n\r\n0\r\n\r\n";
        assert_eq!(answer(chunked).await.unwrap(), "up 1\n");
        assert_eq!(answer(b"HTTP/1.0 200 OK\r\n\r\nup 1\n").await.unwrap(), "up 1\n");
        let cut = b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nup 1\n";
        assert!(answer(cut).await.is_err(), "a body cut short is an error");
        assert!(answer(&chunked[..60]).await.is_err(), "a chunked body without its last chunk");
    }

    #[tokio::test]
    async fn errors_are_one_line() {
        let missing = answer(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await.unwrap_err();
        assert_eq!(missing.to_string(), "HTTP status 404 Not Found");
        for garbage in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"garbage without end",
        ] {
            let error = answer(garbage).await.unwrap_err().to_string();
            assert!(!error.contains('\n'), "{error:?}");
        }
    }

    #[tokio::test]
    async fn a_chunk_not_followed_by_crlf_is_refused() {
        // The old decoder skipped the two bytes after a chunk's data without looking at them.
        let unterminated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nup XY2\r\n1\n\r\n0\r\n\r\n";
        let error = answer(unterminated).await.unwrap_err();
        assert!(matches!(error, ScrapeError::Response(_)), "{error}");
    }

    #[tokio::test]
    async fn a_body_of_many_chunks_is_read_in_linear_time() {
        // 28 MiB in 64-byte chunks (30 MiB on the wire, under the old reader's cap). The old
        // decoder decoded the body from its start again at every 16 KiB read; measured on
        // 16 MiB: 4.3 to 6.9 s (quadratic, so ~3x that here) against 0.7 s with hyper, which
        // reads each chunk once.
        let chunk = [b'x'; 64];
        let body_bytes = 28 << 20;
        let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..body_bytes / chunk.len() {
            response.extend_from_slice(b"40\r\n");
            response.extend_from_slice(&chunk);
            response.extend_from_slice(b"\r\n");
        }
        response.extend_from_slice(b"0\r\n\r\n");
        let started = Instant::now();
        let body = get(&serve_once(response), Duration::from_secs(60)).await.unwrap();
        assert_eq!(body.len(), body_bytes);
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_failed_scrape_however_it_is_delimited() {
        let body = "#".repeat(MAX_BODY_BYTES + 1);
        let closed = format!("HTTP/1.0 200 OK\r\n\r\n{body}");
        let error = answer(closed.as_bytes()).await.unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
        let sized = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        let error = answer(sized.as_bytes()).await.unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
        let at_limit = format!("HTTP/1.0 200 OK\r\n\r\n{}", &body[1..]);
        assert_eq!(answer(at_limit.as_bytes()).await.unwrap().len(), MAX_BODY_BYTES);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_at_once() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
        let error = get(&endpoint, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(error, ScrapeError::Io(_)), "{error}");
    }

    #[tokio::test]
    async fn an_endpoint_that_accepts_and_never_answers_times_out() {
        // The listener's backlog accepts the connection; nobody ever reads or answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::parse(&format!("http://{}/metrics", listener.local_addr().unwrap())).unwrap();
        let started = Instant::now();
        let error = get(&endpoint, Duration::from_millis(500)).await.unwrap_err();
        assert_eq!(error, ScrapeError::Timeout(Duration::from_millis(500)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(500) && waited < Duration::from_secs(3), "{waited:?}");
        drop(listener);
    }
}
