//! Records inside a batch, and the checked iterator that parses them.
//!
//! ```text
//! length: varint            bytes after this field
//! attributes: int8          unused, kept as read
//! timestampDelta: varlong
//! offsetDelta: varint
//! keyLength: varint         -1 for a null key
//! key: byte[keyLength]
//! valueLength: varint       -1 for a null value
//! value: byte[valueLength]
//! headersCount: varint
//! headers: [headerKeyLength: varint, headerKey, headerValueLength: varint, headerValue]
//! ```

use std::iter::FusedIterator;

use bytes::Bytes;

use crate::attributes::TimestampType;
use crate::batch::RecordBatch;
use crate::error::{Error, Result};
use crate::varint;

/// One record of a batch. Keys, values and headers share the batch's bytes (or
/// its decompressed records section) rather than copying them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record-level attributes byte; Kafka defines no bits in it yet.
    pub attributes: i8,
    /// The timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// The offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// The key, or `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, or `None` for a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers, in order; keys may repeat.
    pub headers: Vec<Header>,
}

impl Record {
    /// The record's offset in the partition. Wraps rather than panics on hostile
    /// deltas, like [`RecordBatch::last_offset`].
    pub fn offset(&self, batch: &RecordBatch) -> i64 {
        batch
            .base_offset()
            .wrapping_add(i64::from(self.offset_delta))
    }

    /// The record's timestamp as Kafka reports it: the batch's max timestamp when
    /// the broker stamped the batch (LogAppendTime), else base plus delta.
    pub fn timestamp(&self, batch: &RecordBatch) -> i64 {
        match batch.attributes().timestamp_type() {
            TimestampType::LogAppendTime => batch.max_timestamp(),
            TimestampType::CreateTime => batch.base_timestamp().wrapping_add(self.timestamp_delta),
        }
    }
}

/// One record header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The key. Kafka clients treat it as UTF-8 text but brokers never check it,
    /// so it is kept as bytes; see [`Header::key_str`].
    pub key: Bytes,
    /// The value, or `None` for a null value.
    pub value: Option<Bytes>,
}

impl Header {
    /// The key as text, if it is valid UTF-8.
    pub fn key_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.key)
    }
}

/// Iterates over a batch's records, validating each one; made by
/// [`RecordBatch::records`].
///
/// It checks that records are well-formed and fit their declared lengths, that
/// there are exactly as many as the batch header claims and that nothing follows
/// the last one. It stops after the first error, because nothing after a
/// malformed record can be located reliably.
#[derive(Debug)]
pub struct Records {
    data: Bytes,
    position: usize,
    records_count: i32,
    records_read: i32,
    // An error found before the first record (a failed decompression) waits
    // here to be yielded.
    pending: Option<Error>,
    done: bool,
}

impl Records {
    pub(crate) fn new(data: Bytes, records_count: i32) -> Self {
        Records {
            data,
            position: 0,
            records_count,
            records_read: 0,
            pending: None,
            done: false,
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        Records {
            pending: Some(error),
            ..Records::new(Bytes::new(), 0)
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        if self.records_count < 0 {
            return Err(Error::InvalidRecordCount {
                count: self.records_count,
            });
        }
        let available = self.data.len() - self.position;
        if self.records_read == self.records_count {
            if available > 0 {
                return Err(Error::TrailingBytes {
                    context: "last record",
                    count: available,
                    position: self.position,
                });
            }
            return Ok(None);
        }
        if available == 0 {
            return Err(Error::RecordCountMismatch {
                expected: self.records_count,
                actual: self.records_read,
            });
        }

        let mut outer = Cursor::new(&self.data, self.position, self.data.len());
        let length_position = outer.position;
        let length = outer.varint()?;
        let body_len = outer.length(length, "record", length_position)?;
        let body_start = outer.position;
        let body_end = body_start + body_len;
        let mut body = Cursor::new(&self.data, body_start, body_end);
        let record = body.record()?;
        if body.position != body_end {
            return Err(Error::TrailingBytes {
                context: "record",
                count: body_end - body.position,
                position: body.position,
            });
        }
        self.position = body_end;
        self.records_read += 1;
        Ok(Some(record))
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_record();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result.transpose()
    }
}

impl FusedIterator for Records {}

/// Reads fields from `data[position..end]`, never past `end`.
struct Cursor<'a> {
    data: &'a Bytes,
    position: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a Bytes, position: usize, end: usize) -> Self {
        Cursor {
            data,
            position,
            end,
        }
    }

    fn remaining(&self) -> usize {
        self.end - self.position
    }

    fn record(&mut self) -> Result<Record> {
        let attributes = self.i8()?;
        let timestamp_delta = self.varlong()?;
        let offset_delta = self.varint()?;
        let key = self.nullable_bytes("key")?;
        let value = self.nullable_bytes("value")?;

        let count_position = self.position;
        let headers_count = self.varint()?;
        let headers_count = self.length(headers_count, "headers count", count_position)?;
        // Each header takes at least two bytes (two one-byte lengths), so a count
        // above half the bytes left is a lie; checking first bounds the allocation.
        let headers_count_max = self.remaining() / 2;
        if headers_count > headers_count_max {
            return Err(Error::LengthOutOfBounds {
                field: "headers count",
                length: headers_count as i64,
                available: self.remaining(),
                position: count_position,
            });
        }
        let mut headers = Vec::with_capacity(headers_count);
        for _ in 0..headers_count {
            let key_position = self.position;
            let key_len = self.varint()?;
            // Unlike record keys, header keys cannot be null.
            let key_len = self.length(key_len, "header key", key_position)?;
            let key = self.bytes(key_len);
            let value = self.nullable_bytes("header value")?;
            headers.push(Header { key, value });
        }
        Ok(Record {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        })
    }

    fn i8(&mut self) -> Result<i8> {
        if self.remaining() == 0 {
            return Err(Error::LengthOutOfBounds {
                field: "attributes",
                length: 1,
                available: 0,
                position: self.position,
            });
        }
        let byte = self.data[self.position];
        self.position += 1;
        Ok(i8::from_be_bytes([byte]))
    }

    fn varint(&mut self) -> Result<i32> {
        let (value, len) = varint::read_varint(&self.data[self.position..self.end]).ok_or(
            Error::InvalidVarint {
                position: self.position,
            },
        )?;
        self.position += len;
        Ok(value)
    }

    fn varlong(&mut self) -> Result<i64> {
        let (value, len) = varint::read_varlong(&self.data[self.position..self.end]).ok_or(
            Error::InvalidVarint {
                position: self.position,
            },
        )?;
        self.position += len;
        Ok(value)
    }

    /// Checks a non-negative length read at `position` against the bytes left.
    fn length(&self, length: i32, field: &'static str, position: usize) -> Result<usize> {
        let Ok(len) = usize::try_from(length) else {
            return Err(Error::InvalidLength {
                field,
                length: i64::from(length),
                position,
            });
        };
        if len > self.remaining() {
            return Err(Error::LengthOutOfBounds {
                field,
                length: i64::from(length),
                available: self.remaining(),
                position,
            });
        }
        Ok(len)
    }

    /// Takes `len` bytes, which [`Cursor::length`] has checked are there.
    fn bytes(&mut self, len: usize) -> Bytes {
        let start = self.position;
        self.position += len;
        self.data.slice(start..self.position)
    }

    /// Reads a varint length and that many bytes; -1 means null.
    fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>> {
        let position = self.position;
        let length = self.varint()?;
        if length == -1 {
            return Ok(None);
        }
        let len = self.length(length, field, position)?;
        Ok(Some(self.bytes(len)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::varint::{put_varint, put_varlong};

    /// Encodes one record by hand, independent of the builder.
    fn encode(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(body);
        out
    }

    fn body(key: Option<&[u8]>, headers: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
        let mut out = vec![0u8];
        put_varlong(&mut out, 5);
        put_varint(&mut out, 0);
        match key {
            Some(key) => {
                put_varint(&mut out, key.len() as i32);
                out.extend_from_slice(key);
            }
            None => put_varint(&mut out, -1),
        }
        put_varint(&mut out, -1);
        put_varint(&mut out, headers.len() as i32);
        for (key, value) in headers {
            put_varint(&mut out, key.len() as i32);
            out.extend_from_slice(key);
            match value {
                Some(value) => {
                    put_varint(&mut out, value.len() as i32);
                    out.extend_from_slice(value);
                }
                None => put_varint(&mut out, -1),
            }
        }
        out
    }

    fn collect(data: Vec<u8>, count: i32) -> Vec<Result<Record>> {
        Records::new(Bytes::from(data), count).collect()
    }

    #[test]
    fn parses_a_hand_encoded_record() {
        let data = encode(&body(Some(b"k"), &[(b"h", Some(b"v")), (b"n", None)]));
        let records = collect(data, 1);
        assert_eq!(records.len(), 1);
        let record = records[0].as_ref().unwrap();
        assert_eq!(record.timestamp_delta, 5);
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(record.value, None);
        assert_eq!(record.headers.len(), 2);
        assert_eq!(record.headers[0].key_str().unwrap(), "h");
        assert_eq!(record.headers[0].value.as_deref(), Some(&b"v"[..]));
        assert_eq!(record.headers[1].value, None);
    }

    #[test]
    fn record_count_must_match() {
        let data = encode(&body(None, &[]));
        let fewer = collect(data.clone(), 2);
        assert!(fewer[0].is_ok());
        assert!(matches!(
            fewer[1],
            Err(Error::RecordCountMismatch {
                expected: 2,
                actual: 1
            })
        ));
        assert_eq!(fewer.len(), 2);

        let more = collect([data.clone(), data.clone()].concat(), 1);
        assert!(matches!(
            more[1],
            Err(Error::TrailingBytes {
                context: "last record",
                ..
            })
        ));

        let negative = collect(data, -1);
        assert!(matches!(
            negative[0],
            Err(Error::InvalidRecordCount { count: -1 })
        ));
    }

    #[test]
    fn bytes_left_inside_a_record_are_rejected() {
        let mut inner = body(None, &[]);
        inner.push(0);
        let records = collect(encode(&inner), 1);
        assert!(matches!(
            records[0],
            Err(Error::TrailingBytes {
                context: "record",
                count: 1,
                ..
            })
        ));
    }

    #[test]
    fn lengths_are_checked_before_use() {
        // Record length beyond the data.
        let mut data = Vec::new();
        put_varint(&mut data, 100);
        data.extend_from_slice(&[0; 10]);
        let records = collect(data, 1);
        assert!(matches!(
            records[0],
            Err(Error::LengthOutOfBounds {
                field: "record",
                length: 100,
                available: 10,
                position: 0
            })
        ));

        // Negative key length other than -1.
        let mut inner = vec![0u8, 0, 0];
        put_varint(&mut inner, -2);
        let records = collect(encode(&inner), 1);
        assert!(matches!(
            records[0],
            Err(Error::InvalidLength {
                field: "key",
                length: -2,
                ..
            })
        ));

        // A null header key.
        let inner = [0u8, 0, 0, 1, 1, 2, 1, 1];
        let records = collect(encode(&inner), 1);
        assert!(matches!(
            records[0],
            Err(Error::InvalidLength {
                field: "header key",
                length: -1,
                ..
            })
        ));

        // A huge header count in a small record fails before allocating.
        let mut inner = vec![0u8, 0, 0, 1, 1];
        put_varint(&mut inner, i32::MAX);
        let records = collect(encode(&inner), 1);
        assert!(matches!(
            records[0],
            Err(Error::LengthOutOfBounds {
                field: "headers count",
                ..
            })
        ));
    }

    #[test]
    fn overlong_and_truncated_varints_are_rejected() {
        let mut inner = vec![0u8];
        inner.extend_from_slice(&[0xff; 11]);
        let records = collect(encode(&inner), 1);
        assert!(matches!(
            records[0],
            Err(Error::InvalidVarint { position: 2 })
        ));

        // A varint cut off by the record's own length, though the data goes on.
        let mut data = encode(&[0u8, 0x80]);
        data.extend_from_slice(&[0x00; 4]);
        let records = collect(data, 1);
        assert!(matches!(
            records[0],
            Err(Error::InvalidVarint { position: 2 })
        ));
    }

    #[test]
    fn empty_section_with_zero_records_is_fine() {
        assert!(collect(Vec::new(), 0).is_empty());
    }
}
