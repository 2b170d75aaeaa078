//! Producer ids for idempotent producers, never handed out twice.
//!
//! Ids are reserved in blocks: before the first id of a block is handed out, the end of
//! the block is written to `producer-ids` and fsynced. After a crash the broker starts at
//! the end of the last reserved block, skipping ids that may or may not have been used.

use std::ops::Range;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

/// Ids reserved at a time; one fsync per this many producers.
const BLOCK_SIZE: i64 = 1000;

/// Hands out producer ids.
pub(crate) struct ProducerIds {
    path: PathBuf,
    /// The next id to hand out and the end (exclusive) of the reserved block.
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Loads the last reservation from `dir`.
    pub fn open(dir: &Path) -> std::io::Result<ProducerIds> {
        let path = dir.join("producer-ids");
        let reserved_end = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a producer id: {:?}", path.display(), text.trim()),
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error),
        };
        Ok(ProducerIds {
            path,
            state: Mutex::new((reserved_end, reserved_end)),
        })
    }

    /// The next unused producer id.
    pub async fn next(&self) -> std::io::Result<i64> {
        let mut state = self.state.lock().await;
        if state.0 >= state.1 {
            let end = state.1 + BLOCK_SIZE;
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || write_durably(&path, end))
                .await
                .map_err(std::io::Error::other)??;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }

    /// Reserves `count` consecutive ids for the transaction coordinator, all at or above
    /// `floor` (one past the highest id found in `__transaction_state`): the end of the
    /// block is fsynced before the block is returned, so no id in it is ever handed out
    /// again, whether by this call or by [`next`](Self::next).
    pub async fn reserve_block(&self, count: i64, floor: i64) -> std::io::Result<Range<i64>> {
        assert!(count > 0, "a producer id block of {count} ids");
        let mut state = self.state.lock().await;
        let start = state.0.max(floor);
        let end = start
            .checked_add(count)
            .ok_or_else(|| std::io::Error::other(format!("producer ids exhausted at {start}")))?;
        if end > state.1 {
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || write_durably(&path, end))
                .await
                .map_err(std::io::Error::other)??;
            state.1 = end;
        }
        state.0 = end;
        Ok(start..end)
    }
}

/// Replaces the file with `end` so that a crash leaves either the old or the new value.
fn write_durably(path: &Path, end: i64) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(format!("{end}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let first = ids.next().await.unwrap();
        let second = ids.next().await.unwrap();
        assert_eq!((first, second), (0, 1));
        drop(ids);
        // A restart skips the rest of the reserved block.
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(ids.next().await.unwrap(), BLOCK_SIZE);
    }

    #[tokio::test]
    async fn blocks_never_overlap_single_ids_nor_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(ids.next().await.unwrap(), 0);
        assert_eq!(ids.reserve_block(10, 0).await.unwrap(), 1..11);
        assert_eq!(ids.next().await.unwrap(), 11);
        // A floor from `__transaction_state` lifts the block above it.
        assert_eq!(ids.reserve_block(5, 5000).await.unwrap(), 5000..5005);
        assert_eq!(ids.next().await.unwrap(), 5005);
        drop(ids);
        let ids = ProducerIds::open(dir.path()).unwrap();
        let after = ids.reserve_block(3, 0).await.unwrap();
        assert!(after.start >= 5006, "{after:?}");
    }
}
