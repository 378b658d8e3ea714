//! The checksummed write-ahead log: a log of typed frames. Every record of every table is
//! appended here before it goes anywhere else, so a crash never loses a record that was
//! fsynced.
//!
//! The log knows frames, not tables: a frame is a seq, a [`FrameType`] and a body whose
//! layout belongs to the frame type's codec (`crate::record`). One reader, one repair path
//! and one replay loop (`crate::recover`) serve every frame type.
//!
//! On-disk layout (`<run>/wal/` for the change log, `<run>/wal-metrics/` for the metrics
//! table: each table's seqs form their own log):
//!
//! ```text
//! wal-<first seq, 20 digits>.log     one segment; names sort in seq order
//!
//! segment  = header frame*
//! header   = "EVDWAL" (6 bytes) + format version (u16 LE, currently 2)
//! frame    = payload length (u32 LE) + CRC-32 of the payload (u32 LE, crc32fast) + payload
//! payload  = seq (u64 LE) + frame type (u8) + body (the frame type's codec, crate::record)
//! ```
//!
//! Version 1 (written before typed frames) is still read: its payload is seq (u64 LE) +
//! observed_at_ns (i64 LE) + epoch (u32 LE) + two code bytes + the rest. Code bytes
//! `M`, 1 mark a scrape (epoch 0, the rest is the scrape's URL length, URL and text);
//! a kind code below [`V1_KIND_CODES`] and an op code below [`V1_OP_CODES`] mark a change
//! (the rest is its JSON). The reader hands such a payload over as the version-2 frame
//! holding the same record, so nothing after the reader knows version 1.
//!
//! Invariants:
//! - Within a segment, seqs are contiguous and the first one is the seq in the file name.
//! - The body is the source of truth: the Parquet rows are re-derived from it when records
//!   are folded into Parquet.
//! - Writes are buffered; only [`WalWriter::sync`] (or a finished [`WalWriter::start_sync`])
//!   makes them durable. A new segment's header and directory entry are fsynced when it is
//!   created, so a synced record is always found.
//!
//! What a crash can lose: the frames appended since the last finished sync. They may
//! survive whole, in part (a torn tail), or not at all. The reader keeps the longest valid
//! prefix and stops at the first frame that is short, fails its checksum, has an absurd
//! length, a zero-filled tail, a frame type the reader was not asked for, or an
//! out-of-order seq; it reports exactly how many bytes it dropped and how many frames those
//! bytes held. It never panics on garbage: every length is checked before it is used.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

use crate::durable;

/// First bytes of every WAL segment.
pub const MAGIC: [u8; 6] = *b"EVDWAL";
/// Version of the segment format written by this code.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest version this code still reads.
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// Length of the segment header (magic + version).
pub const HEADER_LEN: u64 = 8;
/// Length of a frame's header (payload length + CRC).
pub const FRAME_HEADER_LEN: u64 = 8;
/// Fixed part of a payload before the body: seq and frame type.
pub const PAYLOAD_PREFIX_LEN: usize = 8 + 1;
/// Fixed part of a version-1 payload: seq, observed_at_ns, epoch and two code bytes.
pub const V1_PAYLOAD_PREFIX_LEN: usize = 8 + 8 + 4 + 1 + 1;
/// Version 1's change codes: kind codes `0..V1_KIND_CODES` (node, pod, event) and op codes
/// `0..V1_OP_CODES` (added, modified, deleted, sync, deleted in gap).
pub const V1_KIND_CODES: u8 = 3;
pub const V1_OP_CODES: u8 = 5;
/// Version 1's code bytes of a scrape.
pub const V1_SCRAPE_CODES: [u8; 2] = [b'M', 1];
/// Longest payload accepted. The API server refuses objects over ~1.5 MiB (etcd's request
/// limit), and scrapes are capped far below, so anything near this is garbage, not data.
pub const MAX_PAYLOAD_LEN: u32 = 64 << 20;

const WRITE_BUFFER: usize = 1 << 20;

/// The kinds of record the log carries; the byte after a frame's seq. Each has its codec in
/// `crate::record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// One change of the change log (`crate::record::ChangeCodec`).
    Change = 1,
    /// One answered scrape of a metrics endpoint (`crate::record::ScrapeCodec`).
    Scrape = 2,
}

impl FrameType {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<FrameType> {
        match code {
            1 => Some(FrameType::Change),
            2 => Some(FrameType::Scrape),
            _ => None,
        }
    }
}

/// Errors of the write-ahead log. Damage found while reading is not an error: it is reported
/// as a [`TornTail`].
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Reading, writing or syncing a segment failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// A segment was written by a newer evident with a format this one cannot read.
    #[error("{} has WAL format version {found}; this evident reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}: use a newer evident", path.display())]
    UnsupportedVersion { path: PathBuf, found: u16 },
    /// A frame is larger than [`MAX_PAYLOAD_LEN`]; the caller handed over an absurd record.
    #[error("a WAL record of {0} bytes is larger than the limit of {MAX_PAYLOAD_LEN} bytes")]
    RecordTooLarge(usize),
}

pub type Result<T, E = WalError> = std::result::Result<T, E>;

/// One valid frame read back: its body is for the codec of its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub seq: u64,
    pub frame_type: FrameType,
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

    /// Appends one frame (buffered; see [`WalWriter::sync`]) whose body is the concatenation
    /// of `body`'s slices, as the frame type's codec laid them out. Returns its size in bytes.
    pub fn append(&mut self, seq: u64, frame_type: FrameType, body: &[&[u8]]) -> Result<u64> {
        let payload_len = PAYLOAD_PREFIX_LEN + body.iter().map(|part| part.len()).sum::<usize>();
        if payload_len > MAX_PAYLOAD_LEN as usize {
            return Err(WalError::RecordTooLarge(payload_len));
        }
        let mut prefix = [0u8; PAYLOAD_PREFIX_LEN];
        prefix[0..8].copy_from_slice(&seq.to_le_bytes());
        prefix[8] = frame_type.code();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&prefix);
        for part in body {
            crc.update(part);
        }
        let mut header = [0u8; FRAME_HEADER_LEN as usize];
        header[..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
        header[4..].copy_from_slice(&crc.finalize().to_le_bytes());
        let write = |file: &mut BufWriter<File>| -> io::Result<()> {
            file.write_all(&header)?;
            file.write_all(&prefix)?;
            body.iter().try_for_each(|part| file.write_all(part))
        };
        write(&mut self.file).map_err(durable::at("write", &self.path))?;
        let frame_len = FRAME_HEADER_LEN + payload_len as u64;
        self.bytes += frame_len;
        self.records += 1;
        self.unsynced = true;
        Ok(frame_len)
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
    /// The checksum matches but the frame type is unknown or not the log's.
    UnknownType,
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
            Damage::UnknownType => "unknown frame type",
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

/// Reads the frames of one segment in order, stopping at the first damaged frame.
#[derive(Debug)]
pub struct WalReader {
    path: PathBuf,
    reader: BufReader<File>,
    file_len: u64,
    /// Format version of the segment (from its header; [`FORMAT_VERSION`] until read).
    version: u16,
    /// Offset of the next unread byte; the end of the valid prefix once the reader stops.
    offset: u64,
    expected_seq: Option<u64>,
    records: u64,
    tail: Option<TornTail>,
    finished: bool,
}

impl WalReader {
    /// Opens a segment. `expected_first_seq` (from the file name) is checked against the
    /// first frame. An unreadable header is reported as damage, not as an error.
    pub fn open(path: &Path, expected_first_seq: Option<u64>) -> Result<WalReader> {
        let file = File::open(path).map_err(durable::at("open", path))?;
        let file_len = file.metadata().map_err(durable::at("stat", path))?.len();
        let mut reader = WalReader {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(WRITE_BUFFER, file),
            file_len,
            version: FORMAT_VERSION,
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
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(WalError::UnsupportedVersion { path: self.path.clone(), found: version });
        }
        self.version = version;
        self.offset = HEADER_LEN;
        Ok(())
    }

    /// The segment's format version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The next valid frame of type `expected`, or `None` at the end of the valid prefix (see
    /// [`WalReader::tail`]). A frame of another type is damage ([`Damage::UnknownType`]): each
    /// table's log holds one frame type.
    pub fn next_frame(&mut self, expected: FrameType) -> Result<Option<Frame>> {
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
        let mut header = [0u8; FRAME_HEADER_LEN as usize];
        self.read_exact(&mut header)?;
        let payload_len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let expected_crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if payload_len == 0 && self.zero_from(start)? {
            self.stop_at(start, Damage::ZeroFilled)?;
            return Ok(None);
        }
        if !self.plausible_length(payload_len) {
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
        let typed = if self.version == 1 { frame_of_v1(payload) } else { frame_of_v2(payload) };
        let Some((frame_type, body)) = typed.filter(|(frame_type, _)| *frame_type == expected) else {
            self.stop_at(start, Damage::UnknownType)?;
            return Ok(None);
        };
        if self.expected_seq.is_some_and(|expected| expected != seq) {
            self.stop_at(start, Damage::SeqOutOfOrder)?;
            return Ok(None);
        }
        self.offset = start + FRAME_HEADER_LEN + u64::from(payload_len);
        self.expected_seq = Some(seq + 1);
        self.records += 1;
        Ok(Some(Frame { seq, frame_type, body }))
    }

    /// What was dropped after the valid prefix, once [`WalReader::next_frame`] returned `None`.
    pub fn tail(&self) -> Option<&TornTail> {
        self.tail.as_ref()
    }

    /// Valid frames read so far.
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

    /// True if a payload of `payload_len` bytes can hold this version's fixed prefix and is
    /// not over [`MAX_PAYLOAD_LEN`].
    fn plausible_length(&self, payload_len: u32) -> bool {
        let prefix = if self.version == 1 { V1_PAYLOAD_PREFIX_LEN } else { PAYLOAD_PREFIX_LEN };
        payload_len as usize >= prefix && payload_len <= MAX_PAYLOAD_LEN
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
            if !self.plausible_length(payload_len) || frame_len > remaining {
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

/// The type and body of a version-2 payload (`seq + type + body`).
fn frame_of_v2(mut payload: Vec<u8>) -> Option<(FrameType, Vec<u8>)> {
    let frame_type = FrameType::from_code(payload[8])?;
    payload.drain(..PAYLOAD_PREFIX_LEN);
    Some((frame_type, payload))
}

/// The version-2 type and body of the record a version-1 payload holds (see the module
/// documentation): a change keeps its bytes after the seq, a scrape drops the epoch and
/// code bytes between its time and its body.
fn frame_of_v1(mut payload: Vec<u8>) -> Option<(FrameType, Vec<u8>)> {
    let codes = [payload[20], payload[21]];
    if codes == V1_SCRAPE_CODES {
        payload.drain(16..V1_PAYLOAD_PREFIX_LEN);
        payload.drain(..8);
        Some((FrameType::Scrape, payload))
    } else if codes[0] < V1_KIND_CODES && codes[1] < V1_OP_CODES {
        payload.drain(..8);
        Some((FrameType::Change, payload))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64) -> Vec<u8> {
        format!("{{\"metadata\":{{\"name\":\"pod-{seq}\"}}}}").into_bytes()
    }

    fn write_segment(dir: &Path, first_seq: u64, count: u64) -> (PathBuf, Vec<u64>) {
        let mut writer = WalWriter::create(dir, first_seq).unwrap();
        let mut ends = Vec::new();
        for seq in first_seq..first_seq + count {
            let body = body(seq);
            let (head, rest) = body.split_at(3);
            writer.append(seq, FrameType::Change, &[head, rest]).unwrap();
            ends.push(writer.bytes());
        }
        writer.sync().unwrap();
        (writer.path().to_path_buf(), ends)
    }

    fn read_all(path: &Path, first_seq: u64, expected: FrameType) -> (Vec<Frame>, Option<TornTail>) {
        let mut reader = WalReader::open(path, Some(first_seq)).unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame(expected).unwrap() {
            frames.push(frame);
        }
        (frames, reader.tail().cloned())
    }

    #[test]
    fn round_trips_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (path, ends) = write_segment(dir.path(), 40, 5);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), *ends.last().unwrap());
        // Header, then frames of 8 + 9 + body bytes.
        assert_eq!(ends[0], HEADER_LEN + FRAME_HEADER_LEN + 9 + body(40).len() as u64);
        let (frames, tail) = read_all(&path, 40, FrameType::Change);
        assert_eq!(tail, None);
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![40, 41, 42, 43, 44]);
        assert_eq!(frames[2], Frame { seq: 42, frame_type: FrameType::Change, body: body(42) });
    }

    #[test]
    fn a_frame_of_another_type_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (path, ends) = write_segment(dir.path(), 0, 3);
        let (frames, tail) = read_all(&path, 0, FrameType::Scrape);
        assert!(frames.is_empty());
        assert_eq!(
            tail,
            Some(TornTail {
                damage: Damage::UnknownType,
                offset: HEADER_LEN,
                bytes_dropped: ends[2] - HEADER_LEN,
                frames_dropped: 3
            })
        );
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
        for version in [1u16, FORMAT_VERSION] {
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
                    bytes[6..8].copy_from_slice(&version.to_le_bytes());
                }
                std::fs::write(&path, &bytes).unwrap();
                let (frames, tail) = read_all(&path, 0, FrameType::Change);
                let kept = tail.as_ref().map_or(len as u64, |t| t.offset);
                assert!(kept <= len as u64);
                assert_eq!(tail.map_or(0, |t| t.bytes_dropped), len as u64 - kept, "len {len}");
                assert!(frames.len() <= len / 17 + 1);
            }
        }
    }
}
