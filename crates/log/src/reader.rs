//! Buffered positional reads of a segment file.
//!
//! Walking a segment batch by batch with one `pread` per header costs a system
//! call per batch; this reads a chunk at a time and serves headers (and whole
//! batches that fit) from it. It never reads past `end`, the bytes the log
//! knows to be appended, so a write in progress is never seen.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use fjord_records::BATCH_HEADER_LEN;

use crate::batch_header::BatchHeader;

/// Chunk size for walks that only look at a few headers (lookups).
pub(crate) const LOOKUP_CHUNK_BYTES: usize = 16 * 1024;
/// Chunk size for walks over whole segments (recovery, producer state rebuild).
pub(crate) const SCAN_CHUNK_BYTES: usize = 1024 * 1024;

pub(crate) struct FileCursor<'a> {
    file: &'a File,
    end: u64,
    chunk_bytes: usize,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> FileCursor<'a> {
    /// A cursor over `file[..end]`.
    pub fn new(file: &'a File, end: u64, chunk_bytes: usize) -> Self {
        FileCursor {
            file,
            end,
            chunk_bytes,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// The `len` bytes at `position`, or `None` if they run past the end.
    /// A request larger than the chunk size is read whole; `end` bounds it, so
    /// a length read from a corrupt file cannot ask for more than the file has.
    pub fn read(&mut self, position: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let Some(read_end) = position.checked_add(len as u64) else {
            return Ok(None);
        };
        if read_end > self.end {
            return Ok(None);
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if position < self.buf_start || read_end > buf_end {
            let available = self.end - position;
            let fill = (len.max(self.chunk_bytes) as u64).min(available) as usize;
            self.buf.resize(fill, 0);
            self.file.read_exact_at(&mut self.buf, position)?;
            self.buf_start = position;
        }
        let start = (position - self.buf_start) as usize;
        Ok(Some(&self.buf[start..start + len]))
    }

    /// CRC-32C of the `len` bytes at `position`, read a chunk at a time so a
    /// large batch costs no large allocation; `None` if they run past the end.
    pub fn crc32c(&mut self, position: u64, len: u64) -> io::Result<Option<u32>> {
        let Some(end) = position.checked_add(len) else {
            return Ok(None);
        };
        let mut crc = 0;
        let mut at = position;
        while at < end {
            let piece = (end - at).min(self.chunk_bytes as u64) as usize;
            let Some(bytes) = self.read(at, piece)? else {
                return Ok(None);
            };
            crc = crc32c::crc32c_append(crc, bytes);
            at += piece as u64;
        }
        Ok(Some(crc))
    }

    /// The batch header at `position`, or `None` if fewer than 61 bytes are left.
    pub fn header(&mut self, position: u64) -> io::Result<Option<BatchHeader>> {
        Ok(self
            .read(position, BATCH_HEADER_LEN)?
            .map(BatchHeader::parse))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_within_and_across_chunks_but_never_past_end() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..=255).collect();
        file.write_all(&data).unwrap();
        let mut cursor = FileCursor::new(&file, 200, 16);
        assert_eq!(cursor.read(3, 4).unwrap().unwrap(), &data[3..7]);
        assert_eq!(cursor.read(10, 10).unwrap().unwrap(), &data[10..20]);
        assert_eq!(cursor.read(50, 100).unwrap().unwrap(), &data[50..150]);
        assert_eq!(cursor.read(190, 10).unwrap().unwrap(), &data[190..200]);
        assert!(cursor.read(195, 10).unwrap().is_none());
        assert!(cursor.read(u64::MAX, 2).unwrap().is_none());
        assert_eq!(
            cursor.crc32c(5, 150).unwrap(),
            Some(crc32c::crc32c(&data[5..155]))
        );
        assert_eq!(cursor.crc32c(100, 101).unwrap(), None);
    }
}
