//! Opening a partition log, and recovering it after an unclean stop.
//!
//! After a clean close (marker present, checkpoint valid) every segment's
//! indexes are trusted once they pass cheap checks, and only the batches after
//! the last segment's last index entry are read. Otherwise the segments wholly
//! below the checkpointed recovery point are trusted the same way (their data
//! and indexes were fsynced before the checkpoint was written), and every
//! segment from the one holding the recovery point on is scanned: each batch's
//! length, magic, CRC and offsets are checked, indexes are rebuilt, and the
//! first bad batch ends the log: its segment is truncated there and every later
//! segment deleted. A trusted segment that fails its checks is scanned too.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_records::{ControlRecordType, DecompressionLimits, EndTransactionMarker};

use crate::batch_header::BatchHeader;
use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::{Result, io_error};
use crate::files::{self, CLEAN_SHUTDOWN_MARKER, LOG_SUFFIX, SNAPSHOT_SUFFIX, TMP_SUFFIX};
use crate::log::PartitionLog;
use crate::producer_snapshot;
use crate::producer_state::ProducerStateManager;
use crate::reader::SCAN_CHUNK_BYTES;
use crate::segment::{ScanOutcome, Segment};
use crate::txn_index::AbortedTxn;

/// What opening a log found and did, for the broker's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Whether the previous run closed the log cleanly, so no scan was needed.
    pub clean_shutdown: bool,
    /// The recovery point read from the checkpoint (0 without one).
    pub checkpoint_recovery_point: i64,
    /// Segments whose batches were all read and checked.
    pub segments_scanned: usize,
    /// Batches read and checked by those scans.
    pub batches_scanned: u64,
    /// Bytes of valid batches read by those scans.
    pub bytes_scanned: u64,
    /// Segments whose indexes were rebuilt, scanned ones included.
    pub indexes_rebuilt: usize,
    /// Where the log was cut, if a torn or corrupt batch was found.
    pub truncation: Option<TruncationReport>,
    /// Bytes removed from the end of the truncated segment.
    pub truncated_bytes: u64,
    /// Segments deleted because they came after a truncation or a gap.
    pub segments_deleted: usize,
    /// Bytes in those deleted segments.
    pub deleted_bytes: u64,
    /// The producer state snapshot the producer state started from, if any.
    pub producer_snapshot_offset: Option<i64>,
    /// Batch headers replayed into the producer state.
    pub producer_batches_replayed: u64,
    /// Segments whose aborted transaction index was rewritten to match the
    /// log (entries past the end dropped, missing ones rebuilt).
    pub txn_indexes_rebuilt: usize,
    /// The log start offset after opening.
    pub log_start_offset: i64,
    /// The log end offset after opening.
    pub log_end_offset: i64,
    /// How long opening took.
    pub duration: Duration,
    /// Anything else worth logging (an ignored checkpoint or snapshot, an
    /// index that failed its checks).
    pub notes: Vec<String>,
}

/// Where recovery cut the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncationReport {
    /// The base offset of the truncated segment.
    pub segment_base_offset: i64,
    /// The byte position the segment was cut at.
    pub position: u64,
    /// The log end offset after the cut.
    pub offset: i64,
    /// What was wrong with the first removed batch.
    pub reason: String,
}

/// The files found in a partition directory.
struct Listing {
    segment_bases: Vec<i64>,
    snapshots: Vec<i64>,
}

fn list(dir: &Path) -> Result<Listing> {
    let mut listing = Listing {
        segment_bases: Vec::new(),
        snapshots: Vec::new(),
    };
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.ends_with(&format!(".{TMP_SUFFIX}")) {
            // A write that never reached its rename.
            files::remove_if_exists(&entry.path())?;
            continue;
        }
        match files::parse_offset_file_name(&name) {
            Some((offset, LOG_SUFFIX)) => listing.segment_bases.push(offset),
            Some((offset, SNAPSHOT_SUFFIX)) => listing.snapshots.push(offset),
            _ => {}
        }
    }
    listing.segment_bases.sort_unstable();
    listing.snapshots.sort_unstable();
    Ok(listing)
}

/// Creates the directory (and makes its entry durable) if it does not exist.
fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    if let Some(parent) = dir.parent() {
        files::sync_dir(parent)?;
    }
    Ok(())
}

impl PartitionLog {
    /// Opens the log in `dir` (creating an empty one if there is none),
    /// recovering it if the previous run did not close it cleanly. `now_ms` is
    /// the broker's clock, used to restart the active segment's `segment.ms`
    /// timer.
    pub fn open(
        dir: impl AsRef<Path>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<(PartitionLog, RecoveryReport)> {
        let started = Instant::now();
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&dir)?;
        let listing = list(&dir)?;
        let mut report = RecoveryReport::default();

        let checkpoint = match checkpoint::read(&dir)? {
            Some(Some(checkpoint)) => Some(checkpoint),
            Some(None) => {
                report
                    .notes
                    .push("checkpoint file is invalid; scanning the whole log".into());
                None
            }
            None => None,
        };
        let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
        let had_marker = marker.exists();
        // The marker alone is not enough: it vouches for the checkpoint.
        report.clean_shutdown = had_marker && checkpoint.is_some();
        report.checkpoint_recovery_point = checkpoint.map_or(0, |c| c.recovery_point);

        let mut bases = listing.segment_bases;
        let mut log_start_offset = checkpoint.map_or(0, |c| c.log_start_offset);
        if let Some(&first) = bases.first() {
            log_start_offset = log_start_offset.max(first);
        }
        // Segments wholly below the log start: a retention pass or
        // DeleteRecords persisted the new start but stopped before deleting.
        let mut directory_changed = false;
        while bases.len() > 1 && bases[1] <= log_start_offset {
            delete_segment_files(&dir, bases.remove(0))?;
            directory_changed = true;
        }

        let mut opener = Opener {
            dir: &dir,
            config: &config,
            report: &mut report,
            directory_changed: false,
        };
        let mut segments = opener.open_segments(&bases, checkpoint.map(|c| c.recovery_point))?;
        directory_changed |= opener.directory_changed;

        let mut log_end_offset = segments
            .last()
            .map_or(log_start_offset, Segment::next_offset);
        if segments.is_empty() || log_start_offset > log_end_offset {
            // Nothing left at or after the log start (the records DeleteRecords
            // kept were lost with an unflushed tail): start over there, as
            // Kafka's truncateFullyAndStartAt does.
            for segment in segments.drain(..) {
                report.deleted_bytes += segment.size_bytes();
                report.segments_deleted += 1;
                segment.delete()?;
            }
            segments.push(Segment::create(&dir, log_start_offset)?);
            log_end_offset = log_start_offset;
            directory_changed = true;
        }

        let recovery_point = if report.clean_shutdown {
            log_end_offset
        } else {
            checkpoint
                .map_or(0, |c| c.recovery_point)
                .min(log_end_offset)
        };

        if let Some(active) = segments.last_mut() {
            // segment.ms counts from the first batch's arrival, which is not
            // stored; its timestamp stands in, never later than now. A restart
            // can thus roll early (old producer timestamps) but never postpones
            // a roll indefinitely.
            let roll_clock_ms =
                active
                    .first_batch_header()?
                    .map(|header| match header.max_timestamp {
                        timestamp if timestamp >= 0 => timestamp.min(now_ms),
                        _ => now_ms,
                    });
            active.set_roll_clock(roll_clock_ms);
        }

        if checkpoint.is_some_and(|c| {
            c.recovery_point > recovery_point || c.log_start_offset != log_start_offset
        }) {
            // Recovery cut below the checkpointed recovery point (fsynced data
            // was damaged): the checkpoint must not vouch for segments that
            // new appends will refill without a scan after the next crash.
            checkpoint::write(
                &dir,
                checkpoint::Checkpoint {
                    recovery_point,
                    log_start_offset,
                },
            )?;
        }
        if report.truncation.is_some() {
            // The cut must reach the disk before anything is appended after it.
            if let Some(segment) = segments.last_mut() {
                segment.sync_log()?;
            }
        }
        if had_marker {
            // From here on a crash is an unclean stop: the marker must be gone
            // from the disk before the first append.
            files::remove_if_exists(&marker)?;
            directory_changed = true;
        }

        let mut snapshots = listing.snapshots;
        let (producers, snapshot_changes) = load_producer_state(
            &dir,
            &mut segments,
            &mut snapshots,
            log_end_offset,
            config.decompression_limits,
            now_ms,
            &mut report,
        )?;
        directory_changed |= snapshot_changes;
        if directory_changed {
            files::sync_dir(&dir)?;
        }

        report.log_start_offset = log_start_offset;
        report.log_end_offset = log_end_offset;
        report.duration = started.elapsed();
        let log = PartitionLog {
            dir,
            config,
            segments,
            log_start_offset,
            recovery_point,
            checkpointed_recovery_point: recovery_point,
            dir_dirty: false,
            producers,
            snapshots,
            poisoned: None,
            flush_in_progress: false,
        };
        Ok((log, report))
    }
}

struct Opener<'a> {
    dir: &'a Path,
    config: &'a LogConfig,
    report: &'a mut RecoveryReport,
    directory_changed: bool,
}

impl Opener<'_> {
    /// Opens the segments at `bases`, trusting or scanning each, and stops at
    /// the first truncation or gap, deleting the segments after it.
    fn open_segments(
        &mut self,
        bases: &[i64],
        recovery_point: Option<i64>,
    ) -> Result<Vec<Segment>> {
        // Index of the first segment to scan: the one holding the recovery
        // point (after a clean shutdown, none).
        let first_scanned = if self.report.clean_shutdown {
            bases.len()
        } else {
            let recovery_point = recovery_point.unwrap_or(0);
            bases
                .partition_point(|base| *base <= recovery_point)
                .saturating_sub(1)
        };
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        for (index, &base) in bases.iter().enumerate() {
            if let Some(previous) = segments.last()
                && previous.next_offset() != base
            {
                let reason = format!(
                    "segment {base} does not start where the previous one ends ({})",
                    previous.next_offset()
                );
                self.report.notes.push(reason);
                self.delete_from(&bases[index..])?;
                break;
            }
            let (mut segment, indexes_present) = Segment::open(self.dir, base)?;
            let next_base = bases.get(index + 1).copied();
            let mut outcome = None;
            if index < first_scanned || self.report.clean_shutdown {
                let verdict = if indexes_present {
                    segment.load_trusted(next_base)?
                } else {
                    Err("index files missing".to_string())
                };
                if let Err(reason) = verdict {
                    self.report
                        .notes
                        .push(format!("segment {base}: {reason}; rebuilding its indexes"));
                    outcome = Some(self.scan(&mut segment)?);
                }
            } else {
                outcome = Some(self.scan(&mut segment)?);
            }
            let truncated = outcome.is_some_and(|outcome| outcome.truncation.is_some());
            segments.push(segment);
            if truncated {
                self.delete_from(&bases[index + 1..])?;
                break;
            }
        }
        Ok(segments)
    }

    fn scan(&mut self, segment: &mut Segment) -> Result<ScanOutcome> {
        let outcome = segment.recover(self.config.index_interval_bytes)?;
        self.report.segments_scanned += 1;
        self.report.indexes_rebuilt += 1;
        self.report.batches_scanned += outcome.batches;
        self.report.bytes_scanned += outcome.bytes;
        if let Some(truncation) = &outcome.truncation {
            self.report.truncated_bytes += truncation.bytes;
            self.report.truncation = Some(TruncationReport {
                segment_base_offset: segment.base_offset(),
                position: truncation.position,
                offset: truncation.offset,
                reason: truncation.reason.clone(),
            });
            self.directory_changed = true;
        }
        Ok(outcome)
    }

    fn delete_from(&mut self, bases: &[i64]) -> Result<()> {
        for &base in bases {
            let path = files::offset_file_path(self.dir, base, LOG_SUFFIX);
            let size = fs::metadata(&path).map_or(0, |metadata| metadata.len());
            self.report.deleted_bytes += size;
            self.report.segments_deleted += 1;
            delete_segment_files(self.dir, base)?;
            self.directory_changed = true;
        }
        Ok(())
    }
}

fn delete_segment_files(dir: &Path, base: i64) -> Result<()> {
    for suffix in [
        files::INDEX_SUFFIX,
        files::TIME_INDEX_SUFFIX,
        files::TXN_INDEX_SUFFIX,
        LOG_SUFFIX,
    ] {
        files::remove_if_exists(&files::offset_file_path(dir, base, suffix))?;
    }
    Ok(())
}

/// Builds the producer state: from the newest valid snapshot at or below the
/// log end, then batch headers from there (or from the first segment) to the
/// end. Snapshots past the log end describe batches that were
/// lost and are deleted. Returns whether snapshot files were deleted.
///
/// The same replay rebuilds the aborted transaction indexes: every entry whose
/// marker is at or after the replay start is dropped and written again from
/// the markers replayed, and any entry past the log end is dropped. Entries
/// below the snapshot are not rebuilt: a roll fsyncs the sealed segment's
/// txnindex before it writes the snapshot (see `PartitionLog::roll`), so a
/// snapshot on disk implies the entries before it are.
fn load_producer_state(
    dir: &Path,
    segments: &mut [Segment],
    snapshots: &mut Vec<i64>,
    log_end_offset: i64,
    decompression_limits: DecompressionLimits,
    now_ms: i64,
    report: &mut RecoveryReport,
) -> Result<(ProducerStateManager, bool)> {
    let mut changed = false;
    let snapshot_path = |offset| files::offset_file_path(dir, offset, SNAPSHOT_SUFFIX);
    while let Some(&newest) = snapshots.last() {
        if newest <= log_end_offset {
            break;
        }
        files::remove_if_exists(&snapshot_path(newest))?;
        snapshots.pop();
        changed = true;
    }
    let mut state = ProducerStateManager::new();
    // Batches below the log start that are still on disk are replayed too: a
    // producer's retry can still arrive after DeleteRecords moved the start
    // past its last batch, and the in-memory state before the restart knew it.
    let mut replay_from = segments.first().map_or(0, Segment::base_offset);
    for &offset in snapshots.iter().rev() {
        match producer_snapshot::read(&snapshot_path(offset))? {
            Some((stored_offset, loaded)) if stored_offset == offset => {
                state = loaded;
                replay_from = replay_from.max(offset);
                report.producer_snapshot_offset = Some(offset);
                break;
            }
            _ => report.notes.push(format!(
                "producer state snapshot {offset} is invalid; ignored"
            )),
        }
    }
    let mut rebuilt: Vec<AbortedTxn> = Vec::new();
    for segment in segments.iter() {
        if segment.next_offset() <= replay_from {
            continue;
        }
        let Some((mut position, _)) = segment.locate(replay_from)? else {
            continue;
        };
        let mut cursor = segment.cursor(SCAN_CHUNK_BYTES);
        while position < segment.size_bytes() {
            let header = segment.header_at(&mut cursor, position)?;
            let batch_position = position;
            position += segment.batch_size(&header, position)?;
            if header.next_offset() <= replay_from {
                continue;
            }
            let completed = state.replay(&header, now_ms);
            report.producer_batches_replayed += 1;
            let Some(completed) = completed else {
                continue;
            };
            match marker_is_abort(segment, batch_position, &header, decompression_limits) {
                Ok(true) => rebuilt.push(AbortedTxn {
                    producer_id: completed.producer_id,
                    first_offset: completed.first_offset,
                    last_offset: completed.last_offset,
                    last_stable_offset: state
                        .first_unstable_offset()
                        .unwrap_or(completed.last_offset + 1),
                }),
                Ok(false) => {}
                Err(reason) => report.notes.push(format!(
                    "control batch at offset {}: {reason}; not indexed as aborted",
                    header.base_offset
                )),
            }
        }
    }
    for segment in segments.iter_mut() {
        let range = segment.base_offset()..segment.next_offset();
        let mut entries: Vec<AbortedTxn> = segment
            .aborted_txns()
            .iter()
            .filter(|txn| txn.last_offset < replay_from && txn.last_offset < log_end_offset)
            .copied()
            .collect();
        entries.extend(
            rebuilt
                .iter()
                .filter(|txn| range.contains(&txn.last_offset))
                .copied(),
        );
        if entries.as_slice() != segment.aborted_txns() {
            report.txn_indexes_rebuilt += 1;
        }
        segment.rewrite_aborted_txns(entries)?;
    }
    Ok((state, changed))
}

/// Whether the control batch at `position` is an ABORT marker.
fn marker_is_abort(
    segment: &Segment,
    position: u64,
    header: &BatchHeader,
    limits: DecompressionLimits,
) -> Result<bool, String> {
    let batch = segment
        .batch_at(position, header)
        .map_err(|error| error.to_string())?;
    let record = batch
        .records(limits)
        .next()
        .ok_or("no record")?
        .map_err(|error| error.to_string())?;
    let marker = EndTransactionMarker::from_record(&record).map_err(|error| error.to_string())?;
    Ok(marker.control_type == ControlRecordType::Abort)
}
