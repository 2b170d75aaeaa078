//! Primitive encoders and decoders of the Kafka wire format.
//!
//! The generated message code calls these functions and nothing else touches the bytes.
//! Every decoder checks the bytes left in the frame *before* it allocates, so a length
//! read off the wire can never make us reserve more memory than the frame itself could
//! hold. Byte-like values (`bytes`, `records`, unknown tagged fields) are zero-copy
//! slices of the input [`Bytes`].

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// Tagged fields that a decoder did not recognise, kept so that they survive a decode
/// and re-encode unchanged. Keyed by tag, so they are written back in ascending order.
pub type TaggedFields = BTreeMap<u32, Bytes>;

/// A 128-bit UUID as Kafka sends it: 16 bytes, most significant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, which Kafka uses to mean "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Fails unless at least `needed` bytes are left.
#[inline]
fn need(buf: &Bytes, needed: usize, what: &'static str) -> Result<(), DecodeError> {
    if buf.remaining() < needed {
        return Err(DecodeError::Truncated {
            what,
            needed,
            available: buf.remaining(),
        });
    }
    Ok(())
}

macro_rules! fixed_width {
    ($read:ident, $write:ident, $ty:ty, $get:ident, $put:ident) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $read(buf: &mut Bytes, what: &'static str) -> Result<$ty, DecodeError> {
            need(buf, std::mem::size_of::<$ty>(), what)?;
            Ok(buf.$get())
        }

        #[doc = concat!("Writes a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $write(buf: &mut BytesMut, value: $ty) {
            buf.$put(value);
        }
    };
}

fixed_width!(read_i8, write_i8, i8, get_i8, put_i8);
fixed_width!(read_i16, write_i16, i16, get_i16, put_i16);
fixed_width!(read_i32, write_i32, i32, get_i32, put_i32);
fixed_width!(read_i64, write_i64, i64, get_i64, put_i64);
fixed_width!(read_u16, write_u16, u16, get_u16, put_u16);
fixed_width!(read_u32, write_u32, u32, get_u32, put_u32);
fixed_width!(read_f64, write_f64, f64, get_f64, put_f64);

/// Reads a boolean; like Kafka, any non-zero byte is `true`.
#[inline]
pub fn read_bool(buf: &mut Bytes, what: &'static str) -> Result<bool, DecodeError> {
    Ok(read_i8(buf, what)? != 0)
}

/// Writes a boolean as one byte, 0 or 1.
#[inline]
pub fn write_bool(buf: &mut BytesMut, value: bool) {
    buf.put_u8(u8::from(value));
}

/// Reads a 16-byte UUID.
#[inline]
pub fn read_uuid(buf: &mut Bytes, what: &'static str) -> Result<Uuid, DecodeError> {
    need(buf, 16, what)?;
    let mut bytes = [0u8; 16];
    buf.copy_to_slice(&mut bytes);
    Ok(Uuid(bytes))
}

/// Writes a 16-byte UUID.
#[inline]
pub fn write_uuid(buf: &mut BytesMut, value: &Uuid) {
    buf.put_slice(&value.0);
}

/// Reads an unsigned LEB128 varint of at most 5 bytes (a `u32`).
#[inline]
pub fn read_unsigned_varint(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1, what)?;
        let byte = buf.get_u8();
        // The fifth byte may only carry the top four bits of a u32.
        if i == 4 && byte > 0x0f {
            return Err(DecodeError::VarintTooLong { what });
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong { what })
}

/// Writes an unsigned LEB128 varint.
#[inline]
pub fn write_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// The number of bytes [`write_unsigned_varint`] writes for `value`.
#[inline]
pub fn unsigned_varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Reads an unsigned varint of at most 10 bytes (a `u64`).
fn read_unsigned_varlong(buf: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        need(buf, 1, what)?;
        let byte = buf.get_u8();
        if i == 9 && byte > 0x01 {
            return Err(DecodeError::VarintTooLong { what });
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong { what })
}

/// Reads a zigzag-encoded signed varint (`i32`).
#[inline]
pub fn read_varint(buf: &mut Bytes, what: &'static str) -> Result<i32, DecodeError> {
    let raw = read_unsigned_varint(buf, what)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Writes a zigzag-encoded signed varint (`i32`).
#[inline]
pub fn write_varint(buf: &mut BytesMut, value: i32) {
    write_unsigned_varint(buf, ((value << 1) ^ (value >> 31)) as u32);
}

/// Reads a zigzag-encoded signed varlong (`i64`).
#[inline]
pub fn read_varlong(buf: &mut Bytes, what: &'static str) -> Result<i64, DecodeError> {
    let raw = read_unsigned_varlong(buf, what)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Writes a zigzag-encoded signed varlong (`i64`).
#[inline]
pub fn write_varlong(buf: &mut BytesMut, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        buf.put_u8((raw as u8) | 0x80);
        raw >>= 7;
    }
    buf.put_u8(raw as u8);
}

/// Reads a length prefix and checks it against the bytes left. Returns `None` for the
/// null marker. `compact` selects the unsigned-varint "length + 1" form of flexible
/// versions; otherwise the prefix is an `i16` (`wide == false`) or an `i32`.
#[inline]
fn read_length(
    buf: &mut Bytes,
    compact: bool,
    wide: bool,
    what: &'static str,
) -> Result<Option<usize>, DecodeError> {
    let length: i64 = if compact {
        i64::from(read_unsigned_varint(buf, what)?) - 1
    } else if wide {
        i64::from(read_i32(buf, what)?)
    } else {
        i64::from(read_i16(buf, what)?)
    };
    if length == -1 {
        return Ok(None);
    }
    if length < 0 {
        return Err(DecodeError::NegativeLength { what, length });
    }
    // Lengths are small enough to fit in usize on every platform we build for.
    let length = length as usize;
    if length > buf.remaining() {
        return Err(DecodeError::LengthTooLarge {
            what,
            length,
            available: buf.remaining(),
        });
    }
    Ok(Some(length))
}

/// Reads a nullable string: `i16` length (or compact) then UTF-8 bytes.
pub fn read_nullable_string(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<String>, DecodeError> {
    let Some(length) = read_length(buf, compact, false, what)? else {
        return Ok(None);
    };
    let bytes = buf.split_to(length);
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Some(text.to_owned())),
        Err(_) => Err(DecodeError::InvalidUtf8 { what }),
    }
}

/// Reads a string that must not be null.
pub fn read_string(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<String, DecodeError> {
    read_nullable_string(buf, compact, what)?.ok_or(DecodeError::UnexpectedNull { what })
}

/// Writes a string, or the null marker for `None`.
pub fn write_nullable_string(
    buf: &mut BytesMut,
    value: Option<&str>,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match value {
        None if compact => write_unsigned_varint(buf, 0),
        None => buf.put_i16(-1),
        Some(text) => {
            if compact {
                let length = u32::try_from(text.len())
                    .ok()
                    .and_then(|n| n.checked_add(1))
                    .ok_or(EncodeError::TooLong {
                        what,
                        length: text.len(),
                    })?;
                write_unsigned_varint(buf, length);
            } else {
                let length = i16::try_from(text.len()).map_err(|_| EncodeError::TooLong {
                    what,
                    length: text.len(),
                })?;
                buf.put_i16(length);
            }
            buf.put_slice(text.as_bytes());
        }
    }
    Ok(())
}

/// Writes a string that is not null.
pub fn write_string(
    buf: &mut BytesMut,
    value: &str,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    write_nullable_string(buf, Some(value), compact, what)
}

/// Reads nullable bytes (`i32` length or compact) as a zero-copy slice of the frame.
/// `records` fields use the same encoding.
pub fn read_nullable_bytes(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<Bytes>, DecodeError> {
    let Some(length) = read_length(buf, compact, true, what)? else {
        return Ok(None);
    };
    Ok(Some(buf.split_to(length)))
}

/// Reads bytes that must not be null.
pub fn read_bytes(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Bytes, DecodeError> {
    read_nullable_bytes(buf, compact, what)?.ok_or(DecodeError::UnexpectedNull { what })
}

/// Writes bytes, or the null marker for `None`.
pub fn write_nullable_bytes(
    buf: &mut BytesMut,
    value: Option<&[u8]>,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match value {
        None if compact => write_unsigned_varint(buf, 0),
        None => buf.put_i32(-1),
        Some(bytes) => {
            write_length(buf, bytes.len(), compact, what)?;
            buf.put_slice(bytes);
        }
    }
    Ok(())
}

/// Writes bytes that are not null.
pub fn write_bytes(
    buf: &mut BytesMut,
    value: &[u8],
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    write_nullable_bytes(buf, Some(value), compact, what)
}

/// Writes an `i32` (or compact) length prefix of bytes or an array.
fn write_length(
    buf: &mut BytesMut,
    length: usize,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    if compact {
        let prefix = u32::try_from(length)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or(EncodeError::TooLong { what, length })?;
        write_unsigned_varint(buf, prefix);
    } else {
        let prefix = i32::try_from(length).map_err(|_| EncodeError::TooLong { what, length })?;
        buf.put_i32(prefix);
    }
    Ok(())
}

/// Reads an array length (`i32`, or compact) and returns `None` for a null array.
///
/// Every element of every Kafka array takes at least one byte on the wire, so a count
/// larger than the bytes left is rejected here, before the caller reserves anything.
pub fn read_array_length(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<usize>, DecodeError> {
    read_length(buf, compact, true, what)
}

/// How many elements to reserve for an array of `length` elements of `T`, already
/// checked against the frame. The reservation never exceeds the bytes left in the frame,
/// so a count that is large but "fits" cannot multiply into a huge allocation; a genuinely
/// long array grows as its elements are actually decoded.
#[inline]
pub fn array_capacity<T>(length: usize, buf: &Bytes) -> usize {
    length.min(buf.remaining() / std::mem::size_of::<T>().max(1) + 1)
}

/// Writes an array length, or the null marker for `None`.
pub fn write_array_length(
    buf: &mut BytesMut,
    length: Option<usize>,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match length {
        None if compact => write_unsigned_varint(buf, 0),
        None => buf.put_i32(-1),
        Some(length) => write_length(buf, length, compact, what)?,
    }
    Ok(())
}

/// Reads the presence marker of a nullable struct: `-1` is null, anything else present.
pub fn read_struct_presence(buf: &mut Bytes, what: &'static str) -> Result<bool, DecodeError> {
    Ok(read_i8(buf, what)? >= 0)
}

/// Reads the header of one tagged field: its tag and a sub-buffer holding its bytes.
pub fn read_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes), DecodeError> {
    let tag = read_unsigned_varint(buf, "tag")?;
    let size = read_unsigned_varint(buf, "tagged field size")? as usize;
    if size > buf.remaining() {
        return Err(DecodeError::LengthTooLarge {
            what: "tagged field",
            length: size,
            available: buf.remaining(),
        });
    }
    Ok((tag, buf.split_to(size)))
}

/// Reads the count that starts a tagged-field section. Each field takes at least two
/// bytes (tag and size), which bounds the count by the bytes left.
pub fn read_tagged_field_count(buf: &mut Bytes) -> Result<usize, DecodeError> {
    let count = read_unsigned_varint(buf, "tagged field count")? as usize;
    if count > buf.remaining() {
        return Err(DecodeError::LengthTooLarge {
            what: "tagged fields",
            length: count,
            available: buf.remaining(),
        });
    }
    Ok(count)
}

/// Writes a tagged-field section: the known fields encoded by the caller (tag and
/// bytes) merged in tag order with the unknown fields that were preserved.
pub fn write_tagged_fields(
    buf: &mut BytesMut,
    known: Vec<(u32, BytesMut)>,
    unknown: &TaggedFields,
) {
    if known.is_empty() && unknown.is_empty() {
        buf.put_u8(0);
        return;
    }
    let mut all: Vec<(u32, &[u8])> = known
        .iter()
        .map(|(tag, bytes)| (*tag, &bytes[..]))
        .collect();
    all.extend(unknown.iter().map(|(tag, bytes)| (*tag, &bytes[..])));
    all.sort_by_key(|(tag, _)| *tag);
    // The count and sizes fit in u32: a section larger than 4 GiB cannot be framed anyway.
    write_unsigned_varint(buf, all.len() as u32);
    for (tag, bytes) in all {
        write_unsigned_varint(buf, tag);
        write_unsigned_varint(buf, bytes.len() as u32);
        buf.put_slice(bytes);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_varint_round_trips_at_every_width() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u32::MAX,
        ] {
            let mut buf = BytesMut::new();
            write_unsigned_varint(&mut buf, value);
            assert_eq!(buf.len(), unsigned_varint_len(value));
            let mut bytes = buf.freeze();
            assert_eq!(read_unsigned_varint(&mut bytes, "v").unwrap(), value);
            assert!(bytes.is_empty());
        }
    }

    #[test]
    fn signed_varints_round_trip() {
        for value in [0, -1, 1, i32::MIN, i32::MAX, 63, -64, 64] {
            let mut buf = BytesMut::new();
            write_varint(&mut buf, value);
            assert_eq!(read_varint(&mut buf.freeze(), "v").unwrap(), value);
        }
        for value in [0, -1, 1, i64::MIN, i64::MAX] {
            let mut buf = BytesMut::new();
            write_varlong(&mut buf, value);
            assert_eq!(read_varlong(&mut buf.freeze(), "v").unwrap(), value);
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let mut bytes = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(
            read_unsigned_varint(&mut bytes, "v"),
            Err(DecodeError::VarintTooLong { .. })
        ));
        let mut bytes = Bytes::from_static(&[0xff; 11]);
        assert!(read_varlong(&mut bytes, "v").is_err());
    }

    #[test]
    fn lengths_beyond_the_frame_fail_before_allocation() {
        // An array claiming i32::MAX elements with two bytes behind it.
        let mut bytes = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        assert_eq!(
            read_array_length(&mut bytes, false, "topics"),
            Err(DecodeError::LengthTooLarge {
                what: "topics",
                length: i32::MAX as usize,
                available: 2
            })
        );
        let mut bytes = Bytes::from_static(&[0xff, 0xfe, b'a']);
        assert!(matches!(
            read_nullable_string(&mut bytes, false, "s"),
            Err(DecodeError::NegativeLength { length: -2, .. })
        ));
        let mut bytes = Bytes::from_static(&[0x00, 0x05, b'a']);
        assert!(matches!(
            read_string(&mut bytes, false, "s"),
            Err(DecodeError::LengthTooLarge { length: 5, .. })
        ));
    }

    #[test]
    fn null_markers_decode_to_none() {
        let mut bytes = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(read_nullable_string(&mut bytes, false, "s").unwrap(), None);
        let mut bytes = Bytes::from_static(&[0x00]);
        assert_eq!(read_nullable_bytes(&mut bytes, true, "b").unwrap(), None);
        let mut bytes = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(
            read_string(&mut bytes, false, "s"),
            Err(DecodeError::UnexpectedNull { what: "s" })
        );
    }

    #[test]
    fn bytes_are_zero_copy_slices_of_the_frame() {
        let frame = Bytes::from_static(&[0, 0, 0, 3, 1, 2, 3, 9]);
        let mut buf = frame.clone();
        let value = read_bytes(&mut buf, false, "b").unwrap();
        assert_eq!(&value[..], &[1, 2, 3]);
        assert_eq!(value.as_ptr(), frame[4..].as_ptr());
    }

    #[test]
    fn tagged_fields_are_written_in_tag_order() {
        let mut unknown = TaggedFields::new();
        unknown.insert(5, Bytes::from_static(b"x"));
        let mut known = BytesMut::new();
        known.put_u8(7);
        let mut buf = BytesMut::new();
        write_tagged_fields(&mut buf, vec![(9, known)], &unknown);
        assert_eq!(&buf[..], &[2, 5, 1, b'x', 9, 1, 7]);
    }

    #[test]
    fn uuid_displays_in_canonical_form() {
        let uuid = Uuid([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
            0xde, 0xf0,
        ]);
        assert_eq!(uuid.to_string(), "12345678-9abc-def0-1234-56789abcdef0");
    }
}
