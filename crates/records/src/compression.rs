//! The codecs a batch's records section may be compressed with.
//!
//! Only the records section (everything after the 61-byte header) is compressed,
//! as one stream per batch. Decompression never trusts a size the stream claims:
//! output is read through a limited reader and anything past
//! [`DecompressionLimits`] is an error, so a small hostile batch cannot make the
//! broker allocate gigabytes.

use std::fmt;
use std::io::{self, Read, Write};

use crate::error::{Error, Result};

/// A compression codec, as named by bits 0-2 of a batch's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records are stored as they are.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, either raw or in the xerial framing the Java client writes.
    Snappy,
    /// The LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec's id in the attributes bits.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec with the given attributes id, if Kafka defines one.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The codec's name as Kafka's `compression.type` setting spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bounds on the work and memory spent decompressing one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecompressionLimits {
    /// The most bytes a batch's records section may decompress to.
    pub decompressed_bytes_max: usize,
}

impl DecompressionLimits {
    /// The limit used by [`Default`]. Kafka's default `message.max.bytes` is about
    /// 1 MiB of compressed data; 64 MiB leaves room for highly compressible
    /// batches while keeping a hostile one from costing more than that.
    pub const DECOMPRESSED_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;

    /// Limits allowing at most `decompressed_bytes_max` bytes of records per batch.
    pub const fn new(decompressed_bytes_max: usize) -> Self {
        DecompressionLimits {
            decompressed_bytes_max,
        }
    }
}

impl Default for DecompressionLimits {
    fn default() -> Self {
        DecompressionLimits::new(Self::DECOMPRESSED_BYTES_MAX_DEFAULT)
    }
}

/// The stream header the xerial snappy-java library writes, followed by two
/// big-endian int32s (version and compatible version).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = XERIAL_MAGIC.len() + 8;
const XERIAL_VERSION: i32 = 1;
/// snappy-java's default block size; the Java client writes blocks of this size.
const XERIAL_BLOCK_LEN: usize = 32 * 1024;

/// zstd decoders reserve a window as large as the frame header asks before
/// producing a byte, up to `1 << window_log_max`. zstd's own default cap is
/// 2^27 (128 MiB); we cap it near the output limit instead, since a window far
/// larger than the output the caller accepts only serves a hostile frame. It
/// never goes below 2^23 (8 MiB), the largest window of zstd levels 1-19, so
/// frames from producers at those levels (Kafka's default is 3) always decode;
/// the "ultra" levels 20-22 need a correspondingly larger limit.
const ZSTD_WINDOW_LOG_MIN: u32 = 23;
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

fn zstd_window_log_max(limits: DecompressionLimits) -> u32 {
    // ceil(log2(limit)): the bit length of limit - 1.
    let limit_log = usize::BITS
        - limits
            .decompressed_bytes_max
            .saturating_sub(1)
            .leading_zeros();
    limit_log.clamp(ZSTD_WINDOW_LOG_MIN, ZSTD_WINDOW_LOG_MAX)
}

/// Compresses a records section with `compression`.
pub(crate) fn compress(compression: Compression, data: &[u8]) -> Result<Vec<u8>> {
    let io_result = match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => compress_gzip(data),
        Compression::Snappy => compress_snappy_xerial(data),
        Compression::Lz4 => compress_lz4(data),
        // Level 3 is zstd's (and the Java client's) default.
        Compression::Zstd => zstd::bulk::compress(data, 3),
    };
    io_result.map_err(|source| Error::Compress {
        compression,
        source,
    })
}

/// Decompresses a records section, failing once the output exceeds `limits`.
pub(crate) fn decompress(
    compression: Compression,
    data: &[u8],
    limits: DecompressionLimits,
) -> Result<Vec<u8>> {
    let bytes_max = limits.decompressed_bytes_max;
    let output = match compression {
        Compression::None => {
            if data.len() > bytes_max {
                return Err(too_large(compression, limits));
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => {
            // Java's GZIPInputStream reads concatenated members; so does this.
            read_limited(flate2::read::MultiGzDecoder::new(data), bytes_max)
        }
        Compression::Snappy => return decompress_snappy(data, limits),
        Compression::Lz4 => read_limited(lz4_flex::frame::FrameDecoder::new(data), bytes_max),
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(data)
            .and_then(|mut decoder| {
                decoder.window_log_max(zstd_window_log_max(limits))?;
                Ok(decoder)
            })
            .and_then(|decoder| read_limited(decoder, bytes_max)),
    };
    let output = output.map_err(|source| Error::Decompress {
        compression,
        source,
    })?;
    if output.len() > bytes_max {
        return Err(too_large(compression, limits));
    }
    Ok(output)
}

fn too_large(compression: Compression, limits: DecompressionLimits) -> Error {
    Error::DecompressedTooLarge {
        compression,
        decompressed_bytes_max: limits.decompressed_bytes_max,
    }
}

/// Reads at most `bytes_max + 1` bytes, so the caller can tell "exactly at the
/// limit" from "over it" without ever holding more than one byte too many.
fn read_limited(reader: impl Read, bytes_max: usize) -> io::Result<Vec<u8>> {
    let mut output = Vec::new();
    let take_max = u64::try_from(bytes_max)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader.take(take_max).read_to_end(&mut output)?;
    Ok(output)
}

fn compress_gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn compress_lz4(data: &[u8]) -> io::Result<Vec<u8>> {
    // Kafka's own LZ4 stream writes 64 KiB independent blocks without checksums;
    // matching it keeps the output readable by every client version.
    let frame_info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max64KB)
        .block_mode(lz4_flex::frame::BlockMode::Independent);
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(frame_info, Vec::new());
    encoder.write_all(data)?;
    encoder.finish().map_err(io::Error::other)
}

/// Writes the xerial framing, because that is what the Java client writes and
/// reads; librdkafka reads it too.
fn compress_snappy_xerial(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut output = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2);
    output.extend_from_slice(&XERIAL_MAGIC);
    output.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    output.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in data.chunks(XERIAL_BLOCK_LEN) {
        let compressed = encoder.compress_vec(block).map_err(io::Error::other)?;
        let len = i32::try_from(compressed.len()).map_err(io::Error::other)?;
        output.extend_from_slice(&len.to_be_bytes());
        output.extend_from_slice(&compressed);
    }
    Ok(output)
}

fn decompress_snappy(data: &[u8], limits: DecompressionLimits) -> Result<Vec<u8>> {
    let mut output = Vec::new();
    if data.starts_with(&XERIAL_MAGIC) {
        decompress_snappy_xerial(data, &mut output, limits)?;
    } else {
        // librdkafka and other non-Java clients write a single raw snappy block.
        decompress_snappy_block(data, &mut output, limits)?;
    }
    Ok(output)
}

fn decompress_snappy_xerial(
    data: &[u8],
    output: &mut Vec<u8>,
    limits: DecompressionLimits,
) -> Result<()> {
    let mut rest = data;
    while !rest.is_empty() {
        // snappy-java reads concatenated streams by accepting a fresh stream
        // header where a block length is expected. A block length can never look
        // like one: its first byte would make it negative.
        if rest.starts_with(&XERIAL_MAGIC) {
            if rest.len() < XERIAL_HEADER_LEN {
                return Err(snappy_error("truncated xerial stream header"));
            }
            rest = &rest[XERIAL_HEADER_LEN..];
            continue;
        }
        let Some((len_bytes, after_len)) = rest.split_first_chunk::<4>() else {
            return Err(snappy_error("truncated xerial block length"));
        };
        let block_len = i32::from_be_bytes(*len_bytes);
        let block_len =
            usize::try_from(block_len).map_err(|_| snappy_error("negative xerial block length"))?;
        if block_len > after_len.len() {
            return Err(snappy_error("xerial block length exceeds the stream"));
        }
        let (block, after_block) = after_len.split_at(block_len);
        decompress_snappy_block(block, output, limits)?;
        rest = after_block;
    }
    Ok(())
}

/// Appends one raw snappy block to `output`, refusing before allocating if its
/// stated length would take the output past the limit.
fn decompress_snappy_block(
    block: &[u8],
    output: &mut Vec<u8>,
    limits: DecompressionLimits,
) -> Result<()> {
    let claimed_len = snap::raw::decompress_len(block).map_err(snappy_io_error)?;
    let budget = limits.decompressed_bytes_max.saturating_sub(output.len());
    if claimed_len > budget {
        return Err(too_large(Compression::Snappy, limits));
    }
    let start = output.len();
    output.resize(start + claimed_len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut output[start..])
        .map_err(snappy_io_error)?;
    output.truncate(start + written);
    Ok(())
}

fn snappy_error(message: &'static str) -> Error {
    Error::Decompress {
        compression: Compression::Snappy,
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    }
}

fn snappy_io_error(error: snap::Error) -> Error {
    Error::Decompress {
        compression: Compression::Snappy,
        source: io::Error::new(io::ErrorKind::InvalidData, error),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ (i / 7) as u8).collect()
    }

    #[test]
    fn ids_round_trip() {
        for codec in CODECS {
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
        }
        for id in 5..=7 {
            assert_eq!(Compression::from_id(id), None);
        }
    }

    #[test]
    fn every_codec_round_trips_including_empty_input() {
        let limits = DecompressionLimits::default();
        for codec in CODECS {
            for len in [0, 1, 1000, 100_000] {
                let data = sample(len);
                let compressed = compress(codec, &data).unwrap();
                let output = decompress(codec, &compressed, limits).unwrap();
                assert_eq!(output, data, "{codec} with {len} bytes");
            }
        }
    }

    #[test]
    fn output_exactly_at_the_limit_is_accepted_and_one_more_byte_is_not() {
        let data = sample(4096);
        for codec in CODECS {
            let compressed = compress(codec, &data).unwrap();
            let exact = DecompressionLimits::new(data.len());
            assert_eq!(decompress(codec, &compressed, exact).unwrap(), data);
            let short = DecompressionLimits::new(data.len() - 1);
            let error = decompress(codec, &compressed, short).unwrap_err();
            assert!(
                matches!(error, Error::DecompressedTooLarge { compression, decompressed_bytes_max }
                    if compression == codec && decompressed_bytes_max == data.len() - 1),
                "{codec}: {error:?}"
            );
        }
    }

    #[test]
    fn xerial_stream_is_framed_like_snappy_java() {
        let data = sample(XERIAL_BLOCK_LEN * 2 + 10);
        let compressed = compress(Compression::Snappy, &data).unwrap();
        assert_eq!(&compressed[..8], &XERIAL_MAGIC);
        assert_eq!(&compressed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Three blocks: walk them by their length prefixes.
        let mut rest = &compressed[16..];
        let mut blocks = 0;
        while !rest.is_empty() {
            let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            rest = &rest[4 + len..];
            blocks += 1;
        }
        assert_eq!(blocks, 3);
    }

    #[test]
    fn raw_and_concatenated_xerial_snappy_both_decode() {
        let limits = DecompressionLimits::default();
        let data = sample(5000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw, limits).unwrap(), data);

        let xerial = compress(Compression::Snappy, &data).unwrap();
        let mut twice = xerial.clone();
        twice.extend_from_slice(&xerial);
        let mut expected = data.clone();
        expected.extend_from_slice(&data);
        assert_eq!(
            decompress(Compression::Snappy, &twice, limits).unwrap(),
            expected
        );
    }

    #[test]
    fn malformed_xerial_framing_is_an_error() {
        let limits = DecompressionLimits::default();
        let mut header_only = XERIAL_MAGIC.to_vec();
        header_only.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        let cases: [(&str, Vec<u8>); 3] = [
            ("truncated header", XERIAL_MAGIC.to_vec()),
            (
                "negative block length",
                [header_only.clone(), vec![0xff, 0, 0, 1]].concat(),
            ),
            (
                "block past the end",
                [header_only.clone(), vec![0, 0, 0, 9, 1, 2]].concat(),
            ),
        ];
        for (name, input) in cases {
            let error = decompress(Compression::Snappy, &input, limits).unwrap_err();
            assert!(
                matches!(error, Error::Decompress { .. }),
                "{name}: {error:?}"
            );
        }
        // A stream with a header and no blocks is simply empty.
        assert!(
            decompress(Compression::Snappy, &header_only, limits)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn zstd_window_cap_follows_the_limit_within_bounds() {
        let log_for = |bytes| zstd_window_log_max(DecompressionLimits::new(bytes));
        assert_eq!(log_for(0), 23);
        assert_eq!(log_for(1 << 20), 23);
        assert_eq!(log_for((1 << 24) + 1), 25);
        assert_eq!(log_for(1 << 26), 26);
        assert_eq!(log_for(usize::MAX), 27);
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        let limits = DecompressionLimits::default();
        let garbage = [0x13u8; 64];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let error = decompress(codec, &garbage, limits).unwrap_err();
            assert!(
                matches!(error, Error::Decompress { .. }),
                "{codec}: {error:?}"
            );
        }
    }
}
