//! The checksummed write-ahead log: every change is appended here before it goes anywhere
//! else, so a crash never loses a change that was fsynced.
//!
//! On-disk layout (`<run>/wal/`):
//!
//! ```text
//! wal-<first seq, 20 digits>.log     one segment; names sort in seq order
//!
//! segment  = header record*
//! header   = "EVDWAL" (6 bytes) + format version (u16 LE, currently 1)
//! record   = payload length (u32 LE) + CRC-32 of the payload (u32 LE, crc32fast) + payload
//! payload  = seq (u64 LE) + observed_at_ns (i64 LE) + epoch (u32 LE) + kind code (u8)
//!            + op code (u8) + the redacted object as JSON (the rest of the payload)
//! ```
//!
//! The metrics log (`<run>/wal-metrics/`, see `crate::metric_store`) uses the same segments
//! and frames with its own two code bytes instead of kind and op ([`WalWriter::append_frame`],
//! [`WalReader::next_frame`]).
//!
//! Invariants:
//! - Within a segment, seqs are contiguous and the first one is the seq in the file name.
//! - The JSON is the source of truth: typed columns are re-extracted from it when records are
//!   folded into Parquet.
//! - Writes are buffered; only [`WalWriter::sync`] (or a finished [`WalWriter::start_sync`])
//!   makes them durable. A new segment's header and directory entry are fsynced when it is
//!   created, so a synced record is always found.
//!
//! What a crash can lose: the records appended since the last finished sync. They may
//! survive whole, in part (a torn tail), or not at all. The reader keeps the longest valid
//! prefix and stops at the first record that is short, fails its checksum, has an absurd
//! length, a zero-filled tail, unknown codes or an out-of-order seq; it reports exactly how
//! many bytes it dropped and how many record frames those bytes held. It never panics on
//! garbage: every length is checked before it is used.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

use evident_core::{Change, Kind, Op};

use crate::durable;

/// First bytes of every WAL segment.
pub const MAGIC: [u8; 6] = *b"EVDWAL";
/// Version of the segment format written by this code.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the segment header (magic + version).
pub const HEADER_LEN: u64 = 8;
/// Length of a record's frame header (payload length + CRC).
pub const FRAME_HEADER_LEN: u64 = 8;
/// Fixed part of a payload before the JSON: seq, observed_at_ns, epoch, kind, op.
pub const PAYLOAD_PREFIX_LEN: usize = 8 + 8 + 4 + 1 + 1;
/// Longest payload accepted. The API server refuses objects over ~1.5 MiB (etcd's request
/// limit), so anything near this is garbage, not data.
pub const MAX_PAYLOAD_LEN: u32 = 64 << 20;

const WRITE_BUFFER: usize = 1 << 20;

/// Errors of the write-ahead log. Damage found while reading is not an error: it is reported
/// as a [`TornTail`].
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Reading, writing or syncing a segment failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// A segment was written by a newer evident with a format this one cannot read.
    #[error("{} has WAL format version {found}; this evident reads version {FORMAT_VERSION}: use a newer evident", path.display())]
    UnsupportedVersion { path: PathBuf, found: u16 },
    /// A record is larger than [`MAX_PAYLOAD_LEN`]; the caller handed over an absurd object.
    #[error("a WAL record of {0} bytes is larger than the limit of {MAX_PAYLOAD_LEN} bytes")]
    RecordTooLarge(usize),
}

pub type Result<T, E = WalError> = std::result::Result<T, E>;

/// One decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub struct WalRecord {
    pub seq: u64,
    pub observed_at_ns: i64,
    pub epoch: u32,
    pub kind: Kind,
    pub op: Op,
    /// The redacted object as JSON bytes.
    pub object_json: Vec<u8>,
}

impl WalRecord {
    /// The change this record holds. Fails only if the bytes are not UTF-8 text, which the
    /// CRC makes a writer bug rather than disk damage; the JSON itself is checked when the
    /// change's facts are read.
    pub fn to_change(&self) -> Result<Change, serde_json::Error> {
        let json = String::from_utf8(self.object_json.clone())
            .map_err(|error| <serde_json::Error as serde::de::Error>::custom(format!("not UTF-8: {error}")))?;
        Ok(Change::from_redacted(self.seq, self.observed_at_ns, self.epoch, self.op, self.kind, json))
    }
}

/// One decoded record with its code bytes uninterpreted (see [`WalReader::next_frame`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WalFrame {
    pub seq: u64,
    pub observed_at_ns: i64,
    pub epoch: u32,
    pub codes: [u8; 2],
    /// The rest of the payload after the fixed prefix.
    pub body: Vec<u8>,
}

/// File name of the segment whose first record has `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    evident_core::layout::wal_file_name(first_seq)
}

/// The first seq encoded in a segment file name, if `name` is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    evident_core::layout::parse_wal_file_name(name)
}

/// The segments in `wal_dir`, sorted by first seq. A missing directory has none.
pub fn list_segments(wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(wal_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(durable::at("list", wal_dir)(error).into()),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(durable::at("list", wal_dir))?;
        if let Some(first_seq) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// An fsync of a WAL segment running on its own thread ([`WalWriter::start_sync`]).
#[derive(Debug)]
pub struct BackgroundSync {
    path: PathBuf,
    fsync: JoinHandle<io::Result<()>>,
}

impl BackgroundSync {
    pub fn is_finished(&self) -> bool {
        self.fsync.is_finished()
    }

    /// Waits for the fsync and returns its outcome.
    pub fn wait(self) -> Result<()> {
        let outcome = self.fsync.join().unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked")));
        outcome.map_err(durable::at("fsync", &self.path))?;
        Ok(())
    }
}

/// Appends records to one segment file.
#[derive(Debug)]
pub struct WalWriter {
    path: PathBuf,
    first_seq: u64,
    file: BufWriter<File>,
    /// Bytes in the segment, including those still buffered.
    bytes: u64,
    records: u64,
    unsynced: bool,
}

impl WalWriter {
    /// Creates `wal_dir/wal-<first_seq>.log` with its header, durably (file and directory
    /// entry fsynced), so a record synced later is always found by recovery.
    pub fn create(wal_dir: &Path, first_seq: u64) -> Result<WalWriter> {
        durable::create_dir(wal_dir)?;
        let path = wal_dir.join(segment_file_name(first_seq));
        let mut file =
            OpenOptions::new().write(true).create_new(true).open(&path).map_err(durable::at("create", &path))?;
        let mut header = [0u8; HEADER_LEN as usize];
        header[..6].copy_from_slice(&MAGIC);
        header[6..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.write_all(&header).map_err(durable::at("write", &path))?;
        file.sync_all().map_err(durable::at("fsync", &path))?;
        durable::sync_dir(wal_dir)?;
        Ok(WalWriter {
            path,
            first_seq,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            bytes: HEADER_LEN,
            records: 0,
            unsynced: false,
        })
    }

    /// Appends one record (buffered; see [`WalWriter::sync`]). Returns its size in bytes.
    pub fn append(
        &mut self,
        seq: u64,
        observed_at_ns: i64,
        epoch: u32,
        kind: Kind,
        op: Op,
        json: &[u8],
    ) -> Result<u64> {
        self.append_frame(seq, observed_at_ns, epoch, [kind.code(), op.code()], json)
    }

    /// Appends one record whose two code bytes and body are the caller's (the metrics log
    /// uses its own codes, so a change reader refuses its records). Returns its size in bytes.
    pub fn append_frame(
        &mut self,
        seq: u64,
        observed_at_ns: i64,
        epoch: u32,
        codes: [u8; 2],
        json: &[u8],
    ) -> Result<u64> {
        let payload_len = PAYLOAD_PREFIX_LEN + json.len();
        if payload_len > MAX_PAYLOAD_LEN as usize {
            return Err(WalError::RecordTooLarge(payload_len));
        }
        let mut prefix = [0u8; PAYLOAD_PREFIX_LEN];
        prefix[0..8].copy_from_slice(&seq.to_le_bytes());
        prefix[8..16].copy_from_slice(&observed_at_ns.to_le_bytes());
        prefix[16..20].copy_from_slice(&epoch.to_le_bytes());
        prefix[20..22].copy_from_slice(&codes);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&prefix);
        crc.update(json);
        let mut frame = [0u8; FRAME_HEADER_LEN as usize];
        frame[..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
        frame[4..].copy_from_slice(&crc.finalize().to_le_bytes());
        let write = |file: &mut BufWriter<File>| -> io::Result<()> {
            file.write_all(&frame)?;
            file.write_all(&prefix)?;
            file.write_all(json)
        };
        write(&mut self.file).map_err(durable::at("write", &self.path))?;
        let record_len = FRAME_HEADER_LEN + payload_len as u64;
        self.bytes += record_len;
        self.records += 1;
        self.unsynced = true;
        Ok(record_len)
    }

    /// Writes the buffer out and starts fsyncing the segment on another thread, so appends
    /// go on while the disk catches up. Every record appended so far is durable once the
    /// returned [`BackgroundSync`] has finished without error.
    pub fn start_sync(&mut self) -> Result<BackgroundSync> {
        self.file.flush().map_err(durable::at("write", &self.path))?;
        let file = self.file.get_ref().try_clone().map_err(durable::at("duplicate handle of", &self.path))?;
        self.unsynced = false;
        Ok(BackgroundSync { path: self.path.clone(), fsync: thread::spawn(move || file.sync_data()) })
    }

    /// Writes the buffer out and fsyncs the segment: every record appended so far is durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.flush().map_err(durable::at("write", &self.path))?;
        self.file.get_ref().sync_data().map_err(durable::at("fsync", &self.path))?;
        self.unsynced = false;
        Ok(())
    }

    /// True if records were appended since the last [`WalWriter::sync`].
    pub fn has_unsynced(&self) -> bool {
        self.unsynced
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Size of the segment in bytes, including buffered bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn records(&self) -> u64 {
        self.records
    }
}

/// Why the reader stopped before the end of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The file is shorter than its header or does not start with the WAL magic (a crash
    /// between creating the file and syncing its header).
    BadHeader,
    /// A record's frame or payload runs past the end of the file (a torn write).
    Truncated,
    /// A record's payload does not match its CRC.
    ChecksumMismatch,
    /// The rest of the file is zero bytes (a file extended but never written).
    ZeroFilled,
    /// A length field is too small for a payload or over [`MAX_PAYLOAD_LEN`].
    ImplausibleLength,
    /// The checksum matches but the kind or op code is unknown.
    UnknownCode,
    /// The checksum matches but the seq is not the next one expected.
    SeqOutOfOrder,
}

impl Damage {
    pub fn as_str(self) -> &'static str {
        match self {
            Damage::BadHeader => "bad header",
            Damage::Truncated => "truncated record",
            Damage::ChecksumMismatch => "checksum mismatch",
            Damage::ZeroFilled => "zero-filled tail",
            Damage::ImplausibleLength => "implausible record length",
            Damage::UnknownCode => "unknown kind or op code",
            Damage::SeqOutOfOrder => "seq out of order",
        }
    }
}

/// What the reader dropped after the valid prefix of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub damage: Damage,
    /// Offset of the first byte not kept (the end of the valid prefix).
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub bytes_dropped: u64,
    /// Record frames in the dropped bytes: frames are delimited by walking their length
    /// fields from `offset`; a final fragment that is not all zero bytes counts as one frame,
    /// a zero-filled region counts as none.
    pub frames_dropped: u64,
}

/// Reads the records of one segment in order, stopping at the first damaged record.
#[derive(Debug)]
pub struct WalReader {
    path: PathBuf,
    reader: BufReader<File>,
    file_len: u64,
    /// Offset of the next unread byte; the end of the valid prefix once the reader stops.
    offset: u64,
    expected_seq: Option<u64>,
    records: u64,
    tail: Option<TornTail>,
    finished: bool,
}

impl WalReader {
    /// Opens a segment. `expected_first_seq` (from the file name) is checked against the
    /// first record. An unreadable header is reported as damage, not as an error.
    pub fn open(path: &Path, expected_first_seq: Option<u64>) -> Result<WalReader> {
        let file = File::open(path).map_err(durable::at("open", path))?;
        let file_len = file.metadata().map_err(durable::at("stat", path))?.len();
        let mut reader = WalReader {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(WRITE_BUFFER, file),
            file_len,
            offset: 0,
            expected_seq: expected_first_seq,
            records: 0,
            tail: None,
            finished: false,
        };
        reader.read_header()?;
        Ok(reader)
    }

    fn read_header(&mut self) -> Result<()> {
        let mut header = [0u8; HEADER_LEN as usize];
        if self.file_len < HEADER_LEN {
            return self.stop_at(0, Damage::BadHeader);
        }
        self.read_exact(&mut header)?;
        if header[..6] != MAGIC {
            return self.stop_at(0, Damage::BadHeader);
        }
        let version = u16::from_le_bytes([header[6], header[7]]);
        if version != FORMAT_VERSION {
            return Err(WalError::UnsupportedVersion { path: self.path.clone(), found: version });
        }
        self.offset = HEADER_LEN;
        Ok(())
    }

    /// The next valid record, or `None` at the end of the valid prefix (see [`WalReader::tail`]).
    pub fn next_record(&mut self) -> Result<Option<WalRecord>> {
        let known = |codes: [u8; 2]| Kind::from_code(codes[0]).is_some() && Op::from_code(codes[1]).is_some();
        let Some(frame) = self.next_frame(known)? else { return Ok(None) };
        let (Some(kind), Some(op)) = (Kind::from_code(frame.codes[0]), Op::from_code(frame.codes[1])) else {
            unreachable!("next_frame accepted only known codes");
        };
        Ok(Some(WalRecord {
            seq: frame.seq,
            observed_at_ns: frame.observed_at_ns,
            epoch: frame.epoch,
            kind,
            op,
            object_json: frame.body,
        }))
    }

    /// The next valid record whose code bytes `accept` takes, or `None` at the end of the
    /// valid prefix. A record with other codes is damage ([`Damage::UnknownCode`]).
    pub fn next_frame(&mut self, accept: impl Fn([u8; 2]) -> bool) -> Result<Option<WalFrame>> {
        if self.finished {
            return Ok(None);
        }
        let start = self.offset;
        let remaining = self.file_len - start;
        if remaining == 0 {
            self.finished = true;
            return Ok(None);
        }
        if remaining < FRAME_HEADER_LEN {
            let damage = if self.zero_from(start)? { Damage::ZeroFilled } else { Damage::Truncated };
            self.stop_at(start, damage)?;
            return Ok(None);
        }
        let mut frame = [0u8; FRAME_HEADER_LEN as usize];
        self.read_exact(&mut frame)?;
        let payload_len = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes"));
        let expected_crc = u32::from_le_bytes(frame[4..].try_into().expect("4 bytes"));
        if payload_len == 0 && self.zero_from(start)? {
            self.stop_at(start, Damage::ZeroFilled)?;
            return Ok(None);
        }
        if !plausible_length(payload_len) {
            self.stop_at(start, Damage::ImplausibleLength)?;
            return Ok(None);
        }
        if FRAME_HEADER_LEN + u64::from(payload_len) > remaining {
            self.stop_at(start, Damage::Truncated)?;
            return Ok(None);
        }
        let mut payload = vec![0u8; payload_len as usize];
        self.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != expected_crc {
            self.stop_at(start, Damage::ChecksumMismatch)?;
            return Ok(None);
        }
        let seq = u64::from_le_bytes(payload[0..8].try_into().expect("8 bytes"));
        let observed_at_ns = i64::from_le_bytes(payload[8..16].try_into().expect("8 bytes"));
        let epoch = u32::from_le_bytes(payload[16..20].try_into().expect("4 bytes"));
        let codes = [payload[20], payload[21]];
        if !accept(codes) {
            self.stop_at(start, Damage::UnknownCode)?;
            return Ok(None);
        }
        if self.expected_seq.is_some_and(|expected| expected != seq) {
            self.stop_at(start, Damage::SeqOutOfOrder)?;
            return Ok(None);
        }
        payload.drain(..PAYLOAD_PREFIX_LEN);
        self.offset = start + FRAME_HEADER_LEN + u64::from(payload_len);
        self.expected_seq = Some(seq + 1);
        self.records += 1;
        Ok(Some(WalFrame { seq, observed_at_ns, epoch, codes, body: payload }))
    }

    /// What was dropped after the valid prefix, once [`WalReader::next_record`] returned `None`.
    pub fn tail(&self) -> Option<&TornTail> {
        self.tail.as_ref()
    }

    /// Valid records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Length of the valid prefix read so far, in bytes.
    pub fn valid_len(&self) -> u64 {
        self.offset
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn stop_at(&mut self, offset: u64, damage: Damage) -> Result<()> {
        let frames_dropped = self.count_frames_from(offset)?;
        self.offset = offset;
        self.finished = true;
        self.tail = Some(TornTail { damage, offset, bytes_dropped: self.file_len - offset, frames_dropped });
        Ok(())
    }

    /// Counts the record frames in `[offset, file_len)` by walking length fields, without
    /// trusting any of them further than the file's length.
    fn count_frames_from(&mut self, offset: u64) -> Result<u64> {
        let mut frames = 0;
        let mut position = offset;
        while position < self.file_len {
            if self.zero_from(position)? {
                break;
            }
            let remaining = self.file_len - position;
            if remaining < FRAME_HEADER_LEN {
                frames += 1;
                break;
            }
            self.seek(position)?;
            let mut length = [0u8; 4];
            self.read_exact(&mut length)?;
            let payload_len = u32::from_le_bytes(length);
            let frame_len = FRAME_HEADER_LEN + u64::from(payload_len);
            frames += 1;
            if !plausible_length(payload_len) || frame_len > remaining {
                break;
            }
            position += frame_len;
        }
        Ok(frames)
    }

    /// True if every byte from `offset` to the end of the file is zero. Moves the read
    /// position: only called once the reader is about to stop, or before a seek.
    fn zero_from(&mut self, offset: u64) -> Result<bool> {
        self.seek(offset)?;
        let mut buffer = [0u8; 8192];
        let mut position = offset;
        while position < self.file_len {
            let want = buffer.len().min((self.file_len - position) as usize);
            self.read_exact(&mut buffer[..want])?;
            if buffer[..want].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            position += want as u64;
        }
        Ok(true)
    }

    fn seek(&mut self, offset: u64) -> Result<()> {
        self.reader.seek(SeekFrom::Start(offset)).map_err(durable::at("seek", &self.path))?;
        Ok(())
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> Result<()> {
        self.reader.read_exact(buffer).map_err(durable::at("read", &self.path))?;
        Ok(())
    }
}

fn plausible_length(payload_len: u32) -> bool {
    payload_len as usize >= PAYLOAD_PREFIX_LEN && payload_len <= MAX_PAYLOAD_LEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write_segment(dir: &Path, first_seq: u64, count: u64) -> (PathBuf, Vec<u64>) {
        let mut writer = WalWriter::create(dir, first_seq).unwrap();
        let mut ends = Vec::new();
        for seq in first_seq..first_seq + count {
            let object = json!({"metadata": {"name": format!("pod-{seq}"), "uid": format!("uid-{seq}")}});
            let json = serde_json::to_vec(&object).unwrap();
            writer.append(seq, seq as i64 * 1000, 1, Kind::Pod, Op::Modified, &json).unwrap();
            ends.push(writer.bytes());
        }
        writer.sync().unwrap();
        (writer.path().to_path_buf(), ends)
    }

    fn read_all(path: &Path, first_seq: u64) -> (Vec<WalRecord>, Option<TornTail>) {
        let mut reader = WalReader::open(path, Some(first_seq)).unwrap();
        let mut records = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            records.push(record);
        }
        (records, reader.tail().cloned())
    }

    #[test]
    fn round_trips_records() {
        let dir = tempfile::tempdir().unwrap();
        let (path, ends) = write_segment(dir.path(), 40, 5);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), *ends.last().unwrap());
        let (records, tail) = read_all(&path, 40);
        assert_eq!(tail, None);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![40, 41, 42, 43, 44]);
        let change = records[2].to_change().unwrap();
        assert_eq!(change.facts().unwrap().name(), "pod-42");
        assert_eq!(change.observed_at_ns, 42_000);
        assert_eq!((change.kind, change.op, change.epoch), (Kind::Pod, Op::Modified, 1));
    }

    #[test]
    fn segment_names_sort_and_parse() {
        assert_eq!(segment_file_name(7), "wal-00000000000000000007.log");
        assert_eq!(parse_segment_file_name("wal-00000000000000000007.log"), Some(7));
        assert_eq!(parse_segment_file_name("wal-7.log"), None);
        assert_eq!(parse_segment_file_name("wal-0000000000000000000x.log"), None);
        assert_eq!(parse_segment_file_name("wal-00000000000000000007.log.damaged"), None);
    }

    #[test]
    fn rejects_a_newer_format_instead_of_dropping_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_segment(dir.path(), 0, 2);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[6] = 9;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(WalReader::open(&path, Some(0)), Err(WalError::UnsupportedVersion { found: 9, .. })));
    }

    #[test]
    fn garbage_of_every_length_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_file_name(0));
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300usize {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            if len >= 8 && len % 2 == 0 {
                bytes[..6].copy_from_slice(&MAGIC);
                bytes[6..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            }
            std::fs::write(&path, &bytes).unwrap();
            let (records, tail) = read_all(&path, 0);
            let kept = tail.as_ref().map_or(len as u64, |t| t.offset);
            assert!(kept <= len as u64);
            assert_eq!(tail.map_or(0, |t| t.bytes_dropped), len as u64 - kept, "len {len}");
            assert!(records.len() <= len / 30 + 1);
        }
    }
}
