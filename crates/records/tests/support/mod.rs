//! Helpers shared by this crate's integration tests. They deliberately avoid the
//! crate's own encoding paths (CRC, compression, header layout) so the tests
//! check it against independent implementations.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;

use fjord_records::{BatchBuilder, Compression};

/// One record (key 01020304, value 050607, header 08090a = 0b0c, timestamp
/// delta 5) in a batch with base timestamp 1479847795000, everything else zero.
/// Assembled by hand from the protocol guide; its CRC, 0x547961fd, matches the
/// one published in another client's (Sarama's) test vectors for the same batch.
#[rustfmt::skip]
pub const FIXTURE_ONE_RECORD: [u8; 82] = [
    0, 0, 0, 0, 0, 0, 0, 0, // baseOffset
    0, 0, 0, 70, // batchLength
    0, 0, 0, 0, // partitionLeaderEpoch
    2, // magic
    0x54, 0x79, 0x61, 0xfd, // crc
    0, 0, // attributes
    0, 0, 0, 0, // lastOffsetDelta
    0, 0, 1, 88, 141, 205, 89, 56, // baseTimestamp 1479847795000
    0, 0, 0, 0, 0, 0, 0, 0, // maxTimestamp
    0, 0, 0, 0, 0, 0, 0, 0, // producerId
    0, 0, // producerEpoch
    0, 0, 0, 0, // baseSequence
    0, 0, 0, 1,  // recordsCount
    40, // record length 20
    0,  // attributes
    10, // timestampDelta 5
    0,  // offsetDelta 0
    8,  // keyLength 4
    1, 2, 3, 4, // key
    6, // valueLength 3
    5, 6, 7, // value
    2, // headersCount 1
    6, // headerKeyLength 3
    8, 9, 10, // headerKey
    4,  // headerValueLength 2
    11, 12, // headerValue
];

/// Bit-at-a-time CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), written
/// from the definition rather than with the `crc32c` crate the library uses.
pub fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

/// A small deterministic xorshift64* generator, so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound`; `bound` must not be zero.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Compresses with the codec crates directly, as a producer would.
pub fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Snappy => snappy_xerial(data, 1024),
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(data, 1).unwrap(),
    }
}

/// One raw snappy block, as librdkafka writes it.
pub fn snappy_raw(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

/// The xerial framing snappy-java (and so the Java client) writes.
pub fn snappy_xerial(data: &[u8], block_len: usize) -> Vec<u8> {
    let mut out = vec![
        0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
    ];
    for block in data.chunks(block_len) {
        let compressed = snappy_raw(block);
        out.extend_from_slice(&(compressed.len() as i32).to_be_bytes());
        out.extend_from_slice(&compressed);
    }
    out
}

/// Replaces a batch's records section with `section` (uncompressed records)
/// compressed as `codec` would be by a producer, and fixes the codec bits,
/// batchLength and CRC by hand.
pub fn rewrap(batch: &[u8], codec: Compression, section: &[u8]) -> Vec<u8> {
    rewrap_compressed(batch, codec, &compress(codec, section))
}

/// Like [`rewrap`] with an already compressed (or arbitrary) section.
pub fn rewrap_compressed(batch: &[u8], codec: Compression, compressed: &[u8]) -> Vec<u8> {
    let mut out = batch[..61].to_vec();
    let attributes = (i16::from_be_bytes([out[21], out[22]]) & !0x07) | i16::from(codec.id());
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(compressed);
    fix_length_and_crc(&mut out);
    out
}

/// Rewrites batchLength to match the buffer and the CRC to match its contents.
pub fn fix_length_and_crc(batch: &mut [u8]) {
    let batch_length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c_bitwise(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A record to append: timestamp, key, value and headers.
type Append<'a> = (
    i64,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    &'a [(&'a [u8], Option<&'a [u8]>)],
);

/// A batch exercising every record feature: keys, values and headers that are
/// present, empty or null, and timestamps out of order.
pub fn varied_batch(codec: Compression) -> BatchBuilder {
    let mut builder = BatchBuilder::new(1_000)
        .partition_leader_epoch(7)
        .producer(42, 3, 100)
        .compression(codec);
    let large = vec![b'x'; 70_000];
    let appends: [Append; 6] = [
        (1_700_000_000_000, Some(b"key-0"), Some(b"value-0"), &[]),
        (
            1_700_000_000_005,
            None,
            Some(b"no key"),
            &[(b"trace", Some(b"abc"))],
        ),
        (
            1_699_999_999_990,
            Some(b"tombstone"),
            None,
            &[(b"a", None), (b"a", Some(b""))],
        ),
        (1_700_000_000_001, Some(b""), Some(b""), &[]),
        (1_700_000_000_002, None, None, &[(b"", Some(b"empty key"))]),
        (1_700_000_000_003, Some(b"large"), Some(&large), &[]),
    ];
    for (timestamp_ms, key, value, headers) in appends {
        builder.append(timestamp_ms, key, value, headers).unwrap();
    }
    builder
}
