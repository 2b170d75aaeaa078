//! What a broker has on disk, for tests that check storage effects (compression applied,
//! segments deleted) rather than only what clients see.
//!
//! Layout, as the broker writes it: `DATA_DIR/{topic}-{partition}/{base offset:020}.log`.

use std::path::{Path, PathBuf};

/// The segment files (`*.log`) of one partition, sorted by base offset.
pub fn segment_files(data_dir: &Path, topic: &str, partition: i32) -> Vec<PathBuf> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    // The names are zero-padded base offsets, so name order is offset order.
    files.sort();
    files
}

/// Bytes in the segment files of `partitions` partitions of `topic`.
pub fn log_bytes(data_dir: &Path, topic: &str, partitions: i32) -> u64 {
    (0..partitions)
        .flat_map(|partition| segment_files(data_dir, topic, partition))
        .map(|path| {
            std::fs::metadata(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
                .len()
        })
        .sum()
}
