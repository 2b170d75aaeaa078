//! Zigzag varints, as used inside Kafka records.
//!
//! Kafka encodes a signed value by zigzag-mapping it to unsigned (so small
//! negative numbers, such as the -1 that marks a null key, stay short) and then
//! writing 7 bits per byte, least significant group first, with the high bit set
//! on every byte but the last. A varint (int32) takes at most
//! [`VARINT_BYTES_MAX`] bytes and a varlong (int64) at most
//! [`VARLONG_BYTES_MAX`].
//!
//! Decoding mirrors the Java client's `ByteUtils`: a value that does not end
//! within the maximum width is malformed, and surplus high bits in the last byte
//! are dropped rather than rejected, so anything the Java broker accepts is
//! accepted here too.

use bytes::BufMut;

/// The most bytes a varint (int32) may take.
pub const VARINT_BYTES_MAX: usize = 5;

/// The most bytes a varlong (int64) may take.
pub const VARLONG_BYTES_MAX: usize = 10;

/// Maps a signed int32 to unsigned so that values near zero stay small.
pub fn zigzag_encode_i32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Inverts [`zigzag_encode_i32`].
pub fn zigzag_decode_i32(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// Maps a signed int64 to unsigned so that values near zero stay small.
pub fn zigzag_encode_i64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverts [`zigzag_encode_i64`].
pub fn zigzag_decode_i64(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends `value` as a zigzag varint.
pub fn put_varint(out: &mut impl BufMut, value: i32) {
    put_unsigned(out, u64::from(zigzag_encode_i32(value)));
}

/// Appends `value` as a zigzag varlong.
pub fn put_varlong(out: &mut impl BufMut, value: i64) {
    put_unsigned(out, zigzag_encode_i64(value));
}

/// How many bytes [`put_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(zigzag_encode_i32(value)))
}

/// How many bytes [`put_varlong`] writes for `value`.
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(zigzag_encode_i64(value))
}

/// Reads a zigzag varint from the start of `buf`, returning the value and the
/// bytes it took, or `None` if it is truncated or longer than
/// [`VARINT_BYTES_MAX`].
pub fn read_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let (raw, len) = read_unsigned(buf, VARINT_BYTES_MAX)?;
    // Bits past 32 can only come from a fifth byte; Java drops them, and so do we.
    Some((zigzag_decode_i32(raw as u32), len))
}

/// Reads a zigzag varlong from the start of `buf`, returning the value and the
/// bytes it took, or `None` if it is truncated or longer than
/// [`VARLONG_BYTES_MAX`].
pub fn read_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    let (raw, len) = read_unsigned(buf, VARLONG_BYTES_MAX)?;
    Some((zigzag_decode_i64(raw), len))
}

fn put_unsigned(out: &mut impl BufMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn unsigned_len(value: u64) -> usize {
    // One byte per started group of 7 significant bits, and at least one byte.
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn read_unsigned(buf: &[u8], bytes_max: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in buf.iter().take(bytes_max).enumerate() {
        // index < 10, so the shift is at most 63 and never overflows the u64.
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_bytes(value: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        out
    }

    fn varlong_bytes(value: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varlong(&mut out, value);
        out
    }

    #[test]
    fn zigzag_matches_the_protocol_guide() {
        for (value, encoded) in [(0, 0u32), (-1, 1), (1, 2), (-2, 3), (2, 4)] {
            assert_eq!(zigzag_encode_i32(value), encoded);
            assert_eq!(zigzag_decode_i32(encoded), value);
        }
        assert_eq!(zigzag_encode_i32(i32::MAX), u32::MAX - 1);
        assert_eq!(zigzag_encode_i32(i32::MIN), u32::MAX);
        assert_eq!(zigzag_encode_i64(i64::MIN), u64::MAX);
    }

    #[test]
    fn known_encodings() {
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(-1), [0x01]);
        assert_eq!(varint_bytes(63), [0x7e]);
        assert_eq!(varint_bytes(64), [0x80, 0x01]);
        assert_eq!(varint_bytes(300), [0xd8, 0x04]);
        assert_eq!(varint_bytes(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(varlong_bytes(i64::MIN).len(), VARLONG_BYTES_MAX);
    }

    #[test]
    fn round_trip_and_lengths() {
        let values_i32 = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, i32::MAX, i32::MIN];
        for value in values_i32 {
            let bytes = varint_bytes(value);
            assert_eq!(bytes.len(), varint_len(value), "{value}");
            assert_eq!(read_varint(&bytes), Some((value, bytes.len())), "{value}");
        }
        let values_i64 = [0, -1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN];
        for value in values_i64 {
            let bytes = varlong_bytes(value);
            assert_eq!(bytes.len(), varlong_len(value), "{value}");
            assert_eq!(read_varlong(&bytes), Some((value, bytes.len())), "{value}");
        }
    }

    #[test]
    fn reading_stops_at_the_first_final_byte() {
        assert_eq!(read_varint(&[0x02, 0xff, 0xff]), Some((1, 1)));
    }

    #[test]
    fn malformed_varints_are_rejected() {
        assert_eq!(read_varint(&[]), None);
        assert_eq!(read_varint(&[0x80]), None, "truncated");
        assert_eq!(read_varint(&[0x80; 5]), None, "six bytes or more");
        assert_eq!(read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), None);
        assert_eq!(read_varlong(&[0x80; 10]), None);
        assert_eq!(
            read_varlong(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Some((0, 6))
        );
    }
}
