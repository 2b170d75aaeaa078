//! Producer ids for idempotent producers, never handed out twice.
//!
//! Ids are reserved in blocks: before the first id of a block is handed out, the end of
//! the block is written to `producer-ids` and fsynced. After a crash the broker starts at
//! the end of the last reserved block, skipping ids that may or may not have been used.

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
}
