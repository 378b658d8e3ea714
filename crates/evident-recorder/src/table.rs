//! The tables of a run, as the storage engine sees them: what a record is, which frame type
//! carries it in the WAL, where its WAL and its Parquet segments live, and how a record
//! becomes rows. [`TableStore`](crate::table_store::TableStore) (the write path) and
//! [`replay`](crate::recover) (recovery) are written once against [`Table`]; [`ChangeLog`]
//! and [`Metrics`] are its two implementations.
//!
//! | table | frame type | WAL | Parquet partitions | seq |
//! |---|---|---|---|---|
//! | [`ChangeLog`] | [`FrameType::Change`] | `wal/` | `nodes/`, `pods/`, `events/` | `seq` |
//! | [`Metrics`] | [`FrameType::Scrape`] | `wal-metrics/` | `metrics/` | `scrape_seq` |
//!
//! Invariants:
//! - A table's seqs start at 0 and have no holes across all its partitions; each record goes
//!   to exactly one partition, chosen by [`Table::partition`].
//! - Everything here is resolved at compile time: the store and recovery are generic over
//!   the table, so the write path has no dynamic dispatch per record.

use std::path::Path;

use evident_core::exposition::{self, Exposition};
use evident_core::layout::{METRICS_WAL_DIR, WAL_DIR};
use evident_core::metric;
use evident_core::{Change, Facts, Kind};

use crate::record::{self, ChangeCodec, RecordError, Scrape, ScrapeCodec};
use crate::segment::{ChangeSegmentWriter, MetricSegmentWriter, SegmentError, SegmentWriter};
use crate::wal::FrameType;

/// One table of a run: its record type, its frame type and codec, its directories and its
/// segment writer.
pub trait Table: std::fmt::Debug {
    /// Name in recovery reports (`changes`, `metrics`).
    const NAME: &'static str;
    /// What one record is called in reports (`change`, `scrape`).
    const RECORD_NOUN: &'static str;
    /// Directory of the table's WAL under the run.
    const WAL_DIR: &'static str;
    /// The frame type of the table's WAL records.
    const FRAME_TYPE: FrameType;
    /// Directories of the table's Parquet partitions under the run; a partition is an
    /// index into this list.
    const PARTITIONS: &'static [&'static str];

    /// A record on its way to the WAL and Parquet, borrowed from whoever holds it.
    type Record<'a>;
    /// Writes one Parquet segment of one partition.
    type Writer: SegmentWriter + std::fmt::Debug;

    /// The partition `record` belongs to.
    fn partition(record: &Self::Record<'_>) -> usize;

    /// The receipt time of `record` (ns since the Unix epoch).
    fn observed_at_ns(record: &Self::Record<'_>) -> i64;

    /// Calls `write` with `record`'s frame body, as slices to be written one after another.
    fn encode<R>(record: &Self::Record<'_>, write: impl FnOnce(&[&[u8]]) -> R) -> R;

    /// Decodes the frame body of record `seq` and calls `then` with the record.
    fn decode<R>(seq: u64, body: Vec<u8>, then: impl FnOnce(&Self::Record<'_>) -> R) -> record::Result<R>;

    /// Starts a segment of `partition` whose first record is `first_seq`.
    fn create_writer(run_dir: &Path, partition: usize, first_seq: u64) -> Result<Self::Writer, SegmentError>;

    /// Adds `record`, which has seq `seq`, to `writer`.
    fn write(writer: &mut Self::Writer, seq: u64, record: &Self::Record<'_>) -> Result<(), SegmentError>;
}

/// The change log: every observed change of a node, pod or event, one partition per kind.
#[derive(Debug, Clone, Copy)]
pub struct ChangeLog;

/// A change and the typed facts read from its JSON (once, by whoever produced the change).
#[derive(Debug, Clone, Copy)]
pub struct ChangeRecord<'a> {
    pub change: &'a Change,
    pub facts: &'a Facts<'a>,
}

impl ChangeLog {
    /// The partition of `kind`'s table.
    pub fn partition_of(kind: Kind) -> usize {
        kind.code() as usize
    }
}

impl Table for ChangeLog {
    const NAME: &'static str = "changes";
    const RECORD_NOUN: &'static str = "change";
    const WAL_DIR: &'static str = WAL_DIR;
    const FRAME_TYPE: FrameType = FrameType::Change;
    /// In [`Kind::ALL`] order, so a kind's code is its partition.
    const PARTITIONS: &'static [&'static str] = &["nodes", "pods", "events"];

    type Record<'a> = ChangeRecord<'a>;
    type Writer = ChangeSegmentWriter;

    fn partition(record: &ChangeRecord<'_>) -> usize {
        Self::partition_of(record.change.kind)
    }

    fn observed_at_ns(record: &ChangeRecord<'_>) -> i64 {
        record.change.observed_at_ns
    }

    fn encode<R>(record: &ChangeRecord<'_>, write: impl FnOnce(&[&[u8]]) -> R) -> R {
        write(&[&ChangeCodec::head(record.change)[..], record.change.json.as_bytes()])
    }

    fn decode<R>(seq: u64, body: Vec<u8>, then: impl FnOnce(&ChangeRecord<'_>) -> R) -> record::Result<R> {
        let change = ChangeCodec::decode(seq, body)?;
        let facts = change.facts().map_err(RecordError::Json)?;
        Ok(then(&ChangeRecord { change: &change, facts: &facts }))
    }

    fn create_writer(run_dir: &Path, partition: usize, first_seq: u64) -> Result<ChangeSegmentWriter, SegmentError> {
        ChangeSegmentWriter::create(run_dir, Kind::ALL[partition], first_seq)
    }

    fn write(writer: &mut ChangeSegmentWriter, seq: u64, record: &ChangeRecord<'_>) -> Result<(), SegmentError> {
        debug_assert_eq!(seq, record.change.seq);
        writer.append(record.change, record.facts)
    }
}

/// The `metrics` table: every answered scrape of a `--metrics` endpoint, one row per sample.
#[derive(Debug, Clone, Copy)]
pub struct Metrics;

/// A scrape and the samples parsed from its text (once, by whoever produced the record).
#[derive(Debug, Clone, Copy)]
pub struct ScrapeRecord<'a> {
    pub scrape: &'a Scrape,
    pub exposition: &'a Exposition,
}

impl Table for Metrics {
    const NAME: &'static str = "metrics";
    const RECORD_NOUN: &'static str = "scrape";
    const WAL_DIR: &'static str = METRICS_WAL_DIR;
    const FRAME_TYPE: FrameType = FrameType::Scrape;
    const PARTITIONS: &'static [&'static str] = &[metric::TABLE];

    type Record<'a> = ScrapeRecord<'a>;
    type Writer = MetricSegmentWriter;

    fn partition(_: &ScrapeRecord<'_>) -> usize {
        0
    }

    fn observed_at_ns(record: &ScrapeRecord<'_>) -> i64 {
        record.scrape.scraped_at_ns
    }

    fn encode<R>(record: &ScrapeRecord<'_>, write: impl FnOnce(&[&[u8]]) -> R) -> R {
        let scrape = record.scrape;
        write(&[&ScrapeCodec::head(scrape)[..], scrape.endpoint.as_bytes(), scrape.text.as_bytes()])
    }

    fn decode<R>(_seq: u64, body: Vec<u8>, then: impl FnOnce(&ScrapeRecord<'_>) -> R) -> record::Result<R> {
        let scrape = ScrapeCodec::decode(&body)?;
        // The response text is the source of truth: the rows come from the same parser as
        // while recording, so both give the same rows.
        let exposition = exposition::parse(&scrape.text);
        Ok(then(&ScrapeRecord { scrape: &scrape, exposition: &exposition }))
    }

    fn create_writer(run_dir: &Path, _partition: usize, first_seq: u64) -> Result<MetricSegmentWriter, SegmentError> {
        MetricSegmentWriter::create(run_dir, first_seq)
    }

    fn write(writer: &mut MetricSegmentWriter, seq: u64, record: &ScrapeRecord<'_>) -> Result<(), SegmentError> {
        writer.append(seq, record.scrape, record.exposition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_partitions_follow_the_kind_codes() {
        for kind in Kind::ALL {
            assert_eq!(ChangeLog::PARTITIONS[ChangeLog::partition_of(kind)], kind.table());
        }
        assert_eq!(ChangeLog::PARTITIONS.len(), Kind::ALL.len());
    }
}
