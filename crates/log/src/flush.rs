//! Durability: fsync with group commit.
//!
//! [`PartitionLog::flush`] does everything under the caller's lock. A broker
//! that wants appends to continue while the disk works splits it in three:
//! [`PartitionLog::begin_flush`] (under the lock: pick the target offset and
//! take handles on the files to sync), [`FlushTicket::sync`] (without the
//! lock: the fsyncs) and [`PartitionLog::finish_flush`] (under the lock:
//! advance the recovery point).

use std::fs::File;
use std::path::PathBuf;

use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result, io_error};
use crate::files;
use crate::log::PartitionLog;

/// The work of one flush, taken by [`PartitionLog::begin_flush`].
#[derive(Debug)]
#[must_use = "a flush ticket does nothing until it is synced and finished"]
pub struct FlushTicket {
    /// The log end offset when the flush began: durable once the ticket syncs.
    target_offset: i64,
    /// The base offset of the segment holding the target.
    target_segment_base: i64,
    files: Vec<(File, PathBuf)>,
    dir: Option<PathBuf>,
}

/// A flush whose fsyncs succeeded.
#[derive(Debug)]
#[must_use = "pass it to PartitionLog::finish_flush"]
pub struct FlushDone {
    target_offset: i64,
    target_segment_base: i64,
}

impl FlushTicket {
    /// The offset everything below which will be durable after this flush.
    pub fn target_offset(&self) -> i64 {
        self.target_offset
    }

    /// fsyncs the files (data only: `fdatasync`, which also persists a grown
    /// file's length) and then, if segments were created or deleted, the
    /// directory. Needs no access to the log.
    pub fn sync(self) -> Result<FlushDone> {
        for (file, path) in &self.files {
            file.sync_data().map_err(io_error("fsync", path))?;
        }
        if let Some(dir) = &self.dir {
            files::sync_dir(dir)?;
        }
        Ok(FlushDone {
            target_offset: self.target_offset,
            target_segment_base: self.target_segment_base,
        })
    }
}

impl PartitionLog {
    /// Makes every appended batch durable and returns the durable offset:
    /// every record below it is on disk. Cheap (no system call) when nothing
    /// was written since the last flush.
    ///
    /// On failure the log is poisoned: an fsync error may have dropped dirty
    /// pages, so nothing written since the last good flush can be called safe.
    pub fn flush(&mut self) -> Result<i64> {
        let ticket = self.begin_flush()?;
        let result = ticket.sync();
        self.finish_flush(result)
    }

    /// First step of a flush, under the lock: notes the log end offset and
    /// takes handles on the files with unsynced writes: the `.log` of every
    /// segment written since its last fsync, and the index files of segments
    /// that are no longer active (the active segment's indexes are rebuilt by
    /// recovery, so syncing them on every flush would buy nothing).
    ///
    /// One flush at a time: a second `begin_flush` before the first one's
    /// `finish_flush` is [`Error::FlushInProgress`], because the second would
    /// find nothing dirty and could report as durable what the first has not
    /// synced yet.
    pub fn begin_flush(&mut self) -> Result<FlushTicket> {
        self.check_not_poisoned()?;
        if self.flush_in_progress {
            return Err(Error::FlushInProgress {
                dir: self.dir.clone(),
            });
        }
        let target_offset = self.log_end_offset();
        let target_segment_base = self.active().base_offset();
        let active = self.segments.len() - 1;
        let mut handles = Vec::new();
        let mut result = Ok(());
        for (index, segment) in self.segments.iter_mut().enumerate() {
            match segment.take_sync_handles(index != active) {
                Ok(taken) => handles.extend(taken),
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        if let Err(error) = result {
            return Err(self.poison(error));
        }
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone());
        self.flush_in_progress = true;
        Ok(FlushTicket {
            target_offset,
            target_segment_base,
            files: handles,
            dir,
        })
    }

    /// Last step of a flush, under the lock: on success advances the recovery
    /// point, and persists it when it entered a later segment than the
    /// checkpointed one (recovery scans from the start of the segment holding
    /// the checkpointed recovery point, so persisting it within the same
    /// segment would buy nothing and cost three more fsyncs). On failure
    /// poisons the log.
    pub fn finish_flush(&mut self, result: Result<FlushDone>) -> Result<i64> {
        self.flush_in_progress = false;
        let done = result.map_err(|error| self.poison(error))?;
        self.check_not_poisoned()?;
        self.recovery_point = self.recovery_point.max(done.target_offset);
        let checkpointed_base =
            self.segments[self.segment_index_for(self.checkpointed_recovery_point)].base_offset();
        if done.target_segment_base > checkpointed_base
            || self.checkpointed_recovery_point < self.segments[0].base_offset()
        {
            let checkpoint = Checkpoint {
                recovery_point: done.target_offset,
                log_start_offset: self.log_start_offset,
            };
            checkpoint::write(&self.dir, checkpoint).map_err(|error| self.poison(error))?;
            self.checkpointed_recovery_point = done.target_offset;
        }
        Ok(self.recovery_point)
    }
}
