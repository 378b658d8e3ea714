//! The records the write-ahead log carries and their codecs, one per [`FrameType`]: how a
//! record becomes a frame body and how a body becomes the record again.
//!
//! Bodies (after the frame's seq and type, see [`crate::wal`]):
//!
//! ```text
//! change (FrameType::Change)  observed_at_ns (i64 LE) + epoch (u32 LE) + kind code (u8)
//!                             + op code (u8) + the redacted object as JSON (the rest)
//! scrape (FrameType::Scrape)  scraped_at_ns (i64 LE) + URL length (u16 LE) + URL (UTF-8)
//!                             + the response body exactly as served (the rest, UTF-8)
//! ```
//!
//! Invariants:
//! - Encoding allocates nothing: a codec lays a body out as a small fixed head on the stack
//!   followed by slices of the record ([`ChangeCodec::head`], [`ScrapeCodec::head`]).
//! - Decoding a body that passed its checksum fails only on a writer bug, never on disk
//!   damage (the checksum catches that first): it is an error, not a dropped record.

use evident_core::{Change, Kind, Op};

use crate::wal::FrameType;

/// Largest scrape response body recorded; a larger one is a failed scrape.
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// Longest endpoint URL a scrape body can hold (its length is a u16).
pub const MAX_URL_BYTES: usize = u16::MAX as usize;

/// Why a frame body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The body is shorter than its fixed head, a length runs past its end, or a code is
    /// unknown.
    #[error("malformed {frame:?} record: {why}")]
    Malformed { frame: FrameType, why: &'static str },
    /// A change's JSON does not parse.
    #[error("the JSON does not parse: {0}")]
    Json(#[source] serde_json::Error),
}

pub type Result<T, E = RecordError> = std::result::Result<T, E>;

/// The codec of [`FrameType::Change`]: one change of the change log.
#[derive(Debug, Clone, Copy)]
pub struct ChangeCodec;

impl ChangeCodec {
    /// Length of the fixed head: observed_at_ns, epoch, kind and op.
    pub const HEAD_LEN: usize = 8 + 4 + 1 + 1;

    /// The fixed head of `change`'s body; its JSON follows.
    pub fn head(change: &Change) -> [u8; Self::HEAD_LEN] {
        let mut head = [0u8; Self::HEAD_LEN];
        head[0..8].copy_from_slice(&change.observed_at_ns.to_le_bytes());
        head[8..12].copy_from_slice(&change.epoch.to_le_bytes());
        head[12] = change.kind.code();
        head[13] = change.op.code();
        head
    }

    /// The change a body holds. Fails if the body is short, a code unknown or the JSON not
    /// UTF-8; the JSON itself is checked when the change's facts are read.
    pub fn decode(seq: u64, mut body: Vec<u8>) -> Result<Change> {
        let malformed = |why| RecordError::Malformed { frame: FrameType::Change, why };
        if body.len() < Self::HEAD_LEN {
            return Err(malformed("shorter than its head"));
        }
        let observed_at_ns = i64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
        let epoch = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
        let kind = Kind::from_code(body[12]).ok_or_else(|| malformed("unknown kind code"))?;
        let op = Op::from_code(body[13]).ok_or_else(|| malformed("unknown op code"))?;
        body.drain(..Self::HEAD_LEN);
        let json = String::from_utf8(body).map_err(|_| malformed("the JSON is not UTF-8"))?;
        Ok(Change::from_redacted(seq, observed_at_ns, epoch, op, kind, json))
    }
}

/// One answered scrape of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    pub endpoint: String,
    /// When the request was sent, ns since the Unix epoch (UTC).
    pub scraped_at_ns: i64,
    /// The response body: Prometheus text exposition.
    pub text: String,
}

impl Scrape {
    /// True if the scrape fits a body: URL up to [`MAX_URL_BYTES`], text up to
    /// [`MAX_BODY_BYTES`].
    pub fn fits(&self) -> bool {
        self.endpoint.len() <= MAX_URL_BYTES && self.text.len() <= MAX_BODY_BYTES
    }
}

/// The codec of [`FrameType::Scrape`]: one answered scrape.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeCodec;

impl ScrapeCodec {
    /// Length of the fixed head: scraped_at_ns and the URL's length.
    pub const HEAD_LEN: usize = 8 + 2;

    /// The fixed head of `scrape`'s body; the URL and the text follow. The scrape must
    /// [`Scrape::fits`] (a longer URL would be cut).
    pub fn head(scrape: &Scrape) -> [u8; Self::HEAD_LEN] {
        debug_assert!(scrape.fits());
        let mut head = [0u8; Self::HEAD_LEN];
        head[0..8].copy_from_slice(&scrape.scraped_at_ns.to_le_bytes());
        head[8..10].copy_from_slice(&(scrape.endpoint.len() as u16).to_le_bytes());
        head
    }

    /// The scrape a body holds.
    pub fn decode(body: &[u8]) -> Result<Scrape> {
        let malformed = |why| RecordError::Malformed { frame: FrameType::Scrape, why };
        if body.len() < Self::HEAD_LEN {
            return Err(malformed("shorter than its head"));
        }
        let scraped_at_ns = i64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
        let url_len = u16::from_le_bytes([body[8], body[9]]) as usize;
        let url = body.get(Self::HEAD_LEN..Self::HEAD_LEN + url_len).ok_or_else(|| malformed("URL cut"))?;
        let endpoint = std::str::from_utf8(url).map_err(|_| malformed("URL is not UTF-8"))?.to_string();
        let text = std::str::from_utf8(&body[Self::HEAD_LEN + url_len..])
            .map_err(|_| malformed("text is not UTF-8"))?
            .to_string();
        Ok(Scrape { endpoint, scraped_at_ns, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_round_trips() {
        let change = Change::from_redacted(9, -5, 3, Op::DeletedInGap, Kind::Event, r#"{"a":1}"#.to_string());
        let mut body = ChangeCodec::head(&change).to_vec();
        body.extend_from_slice(change.json.as_bytes());
        assert_eq!(body.len(), 14 + 7);
        assert_eq!(ChangeCodec::decode(9, body.clone()).unwrap(), change);
        body[12] = 3;
        assert!(matches!(ChangeCodec::decode(9, body), Err(RecordError::Malformed { .. })));
        assert!(ChangeCodec::decode(9, vec![0; 13]).is_err());
    }

    #[test]
    fn a_scrape_round_trips() {
        let scrape = Scrape { endpoint: "http://h:9400/metrics".into(), scraped_at_ns: 5, text: "m 1\n".into() };
        let mut body = ScrapeCodec::head(&scrape).to_vec();
        body.extend_from_slice(scrape.endpoint.as_bytes());
        body.extend_from_slice(scrape.text.as_bytes());
        assert_eq!(body.len(), 10 + 21 + 4);
        assert_eq!(ScrapeCodec::decode(&body).unwrap(), scrape);
        let cut = [5, 0, 0, 0, 0, 0, 0, 0, 9, 0, b'h'];
        assert!(matches!(ScrapeCodec::decode(&cut), Err(RecordError::Malformed { .. })));
    }
}
