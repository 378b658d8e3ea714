//! Scraping Prometheus text endpoints (`evident record --metrics <url>`) at a fixed interval.
//!
//! The client is a minimal HTTP/1.1 GET over a tokio `TcpStream`: one request per connection
//! (`Connection: close`), a body delimited by `Content-Length`, `Transfer-Encoding: chunked`
//! or the end of the connection, and nothing else: exporters serve plain `http://` on a pod or
//! node port, so TLS, redirects and compression are out of scope (no `Accept-Encoding` is
//! sent, so a server has no reason to compress).
//!
//! A failing scrape (refused, timed out, HTTP error, unreadable response) is reported to the
//! caller as a [`ScrapeResult`] with an error and the next scrape happens on schedule: a dead
//! exporter never stops a recording.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

use crate::metric_store::{MAX_BODY_BYTES, Scrape};

/// Longest a response head (status line and headers) may be.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Why a scrape failed or an endpoint is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    /// The URL is not a plain `http://host[:port][/path]` URL.
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
    /// The URL as given; the `endpoint` column of every sample scraped from it.
    pub url: String,
    /// `host:port` to connect to (brackets kept around an IPv6 address).
    pub authority: String,
    /// Path and query, at least `/`.
    pub target: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path][?query]`; the port defaults to 80.
    pub fn parse(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| ScrapeError::BadUrl { url: url.to_string(), why: why.to_string() };
        if url.starts_with("https://") {
            return Err(bad(
                "only plain http:// endpoints can be scraped; reach the exporter through a plain-HTTP port (e.g. kubectl port-forward)",
            ));
        }
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("must start with http://"))?;
        let (host_port, target) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_string()),
        };
        let target = target.split('#').next().unwrap_or("/").to_string();
        if host_port.is_empty() || host_port.contains('@') || host_port.chars().any(char::is_whitespace) {
            return Err(bad("needs a host, without user info or spaces"));
        }
        // A colon inside `[...]` belongs to an IPv6 address, not to a port.
        let has_port = host_port.rfind(':').is_some_and(|colon| !host_port[colon..].contains(']'));
        let authority = if has_port {
            let port = &host_port[host_port.rfind(':').unwrap_or_default() + 1..];
            port.parse::<u16>().map_err(|_| bad("has a port that is not a number from 0 to 65535"))?;
            host_port.to_string()
        } else {
            format!("{host_port}:80")
        };
        Ok(Endpoint { url: url.to_string(), authority, target })
    }
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
pub async fn follow(
    endpoint: Endpoint,
    interval: Duration,
    timeout: Duration,
    mut report: impl FnMut(ScrapeResult) -> bool,
) {
    // tokio's interval panics on zero; no exporter is worth scraping more than 10 times a second.
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let scraped_at_ns = crate::clock::now_ns();
        let outcome = get(&endpoint, timeout).await;
        if !report(ScrapeResult { endpoint: endpoint.url.clone(), scraped_at_ns, outcome }) {
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
    let io = |action: &str| {
        let action = action.to_string();
        move |error: std::io::Error| ScrapeError::Io(format!("{action}: {error}"))
    };
    let mut stream =
        TcpStream::connect(&endpoint.authority).await.map_err(io(&format!("connect to {}", endpoint.authority)))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: evident/{}\r\nAccept: text/plain;version=0.0.4\r\nConnection: close\r\n\r\n",
        endpoint.target,
        endpoint.authority,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await.map_err(io("send the request"))?;
    let mut received = Vec::with_capacity(16 << 10);
    let mut buffer = vec![0u8; 16 << 10];
    loop {
        let read = stream.read(&mut buffer).await.map_err(io("read the response"))?;
        received.extend_from_slice(&buffer[..read]);
        let at_end = read == 0;
        if let Some(body) = complete_response(&received, at_end)? {
            return String::from_utf8(body).map_err(|_| ScrapeError::Response("the body is not UTF-8 text".into()));
        }
        if received.len() > MAX_HEAD_BYTES + MAX_BODY_BYTES + (64 << 10) {
            return Err(ScrapeError::Response(format!("larger than {MAX_BODY_BYTES} bytes")));
        }
    }
}

/// The body of `received` once it holds a whole response; `None` while more is needed. With
/// `at_end` (the server closed the connection) a response that is still cut is an error.
fn complete_response(received: &[u8], at_end: bool) -> Result<Option<Vec<u8>>> {
    let Some(head_end) = find(received, b"\r\n\r\n") else {
        if at_end || received.len() > MAX_HEAD_BYTES {
            return Err(ScrapeError::Response("no complete status line and headers".into()));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&received[..head_end])
        .map_err(|_| ScrapeError::Response("the headers are not text".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut status = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (status.next(), status.next()) else {
        return Err(ScrapeError::Response(format!("bad status line `{status_line}`")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ScrapeError::Response(format!("bad status line `{status_line}`")));
    }
    if !code.starts_with('2') {
        return Err(ScrapeError::Status(status_line[version.len()..].trim().to_string()));
    }
    let header = |name: &str| {
        lines.clone().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    };
    let body = &received[head_end + 4..];
    if header("transfer-encoding").is_some_and(|value| value.to_ascii_lowercase().contains("chunked")) {
        return match decode_chunked(body)? {
            Some(decoded) => Ok(Some(decoded)),
            None if at_end => Err(ScrapeError::Response("the chunked body ends early".into())),
            None => Ok(None),
        };
    }
    if let Some(length) = header("content-length") {
        let length: usize =
            length.parse().map_err(|_| ScrapeError::Response(format!("bad Content-Length `{length}`")))?;
        if length > MAX_BODY_BYTES {
            return Err(ScrapeError::Response(format!("a body of {length} bytes is larger than {MAX_BODY_BYTES}")));
        }
        if body.len() >= length {
            return Ok(Some(body[..length].to_vec()));
        }
        if at_end {
            return Err(ScrapeError::Response(format!("{} of {length} body bytes arrived", body.len())));
        }
        return Ok(None);
    }
    Ok(at_end.then(|| body.to_vec()))
}

/// Decodes a chunked body; `None` while its last (zero-size) chunk has not arrived.
fn decode_chunked(mut body: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut decoded = Vec::new();
    loop {
        let Some(line_end) = find(body, b"\r\n") else { return Ok(None) };
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap_or_default();
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ScrapeError::Response(format!("bad chunk size `{size_text}`")))?;
        if size == 0 {
            return Ok(Some(decoded));
        }
        if decoded.len() + size > MAX_BODY_BYTES {
            return Err(ScrapeError::Response(format!("larger than {MAX_BODY_BYTES} bytes")));
        }
        let data_start = line_end + 2;
        let Some(data) = body.get(data_start..data_start + size) else { return Ok(None) };
        decoded.extend_from_slice(data);
        let Some(rest) = body.get(data_start + size + 2..) else { return Ok(None) };
        body = rest;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
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
    fn bodies_by_length_chunks_or_close() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nup 1\nEXTRA";
        assert_eq!(complete_response(sized, false).unwrap().unwrap(), b"up 1\n");
        assert_eq!(complete_response(&sized[..66], false).unwrap(), None);
        assert!(complete_response(&sized[..66], true).is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nup \r\n2\r\n1\n\r\n0\r\n\r\n";
        assert_eq!(complete_response(chunked, false).unwrap().unwrap(), b"up 1\n");
        assert_eq!(complete_response(&chunked[..60], false).unwrap(), None);
        let closed = b"HTTP/1.0 200 OK\r\n\r\nup 1\n";
        assert_eq!(complete_response(closed, false).unwrap(), None);
        assert_eq!(complete_response(closed, true).unwrap().unwrap(), b"up 1\n");
    }

    #[test]
    fn errors_are_one_line() {
        let missing = complete_response(b"HTTP/1.1 404 Not Found\r\n\r\n", false).unwrap_err();
        assert_eq!(missing.to_string(), "HTTP status 404 Not Found");
        assert!(complete_response(b"SSH-2.0-OpenSSH\r\n\r\n", true).is_err());
        assert!(complete_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true).is_err());
        assert!(complete_response(b"garbage without end", true).is_err());
    }

    #[tokio::test]
    async fn a_dead_endpoint_is_an_error_not_a_hang() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
        let error = get(&endpoint, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(error, ScrapeError::Io(_)), "{error}");
    }
}
