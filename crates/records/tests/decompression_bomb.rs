//! A small compressed batch that expands past the caller's limit is an error,
//! whatever the codec and whatever sizes the stream claims.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use fjord_records::{BatchBuilder, Compression, DecompressionLimits, Error, RecordBatch};
use support::{CODECS, rewrap_compressed};

const LIMIT_BYTES: usize = 1024 * 1024;
const BOMB_BYTES: usize = 16 * 1024 * 1024;

fn first_error(batch: &RecordBatch) -> Error {
    let mut records = batch.records(DecompressionLimits::new(LIMIT_BYTES));
    let error = records.next().unwrap().unwrap_err();
    assert!(records.next().is_none(), "iteration stops after the error");
    error
}

#[test]
fn sixteen_mib_of_zeros_is_refused_under_a_one_mib_limit() {
    let zeros = vec![0u8; BOMB_BYTES];
    for codec in &CODECS[1..] {
        let mut builder = BatchBuilder::new(0).compression(*codec);
        builder.append(0, None, Some(&zeros), &[]).unwrap();
        let bytes = builder.build().unwrap();
        assert!(
            bytes.len() < LIMIT_BYTES,
            "{codec}: the bomb itself is small"
        );
        let batch = RecordBatch::new(bytes).unwrap();
        let error = first_error(&batch);
        assert!(
            matches!(error, Error::DecompressedTooLarge { compression, decompressed_bytes_max }
                if compression == *codec && decompressed_bytes_max == LIMIT_BYTES),
            "{codec}: {error:?}"
        );
    }
}

#[test]
fn the_same_batches_decode_under_a_large_enough_limit() {
    let data = vec![0u8; LIMIT_BYTES / 2];
    for codec in CODECS {
        let mut builder = BatchBuilder::new(0).compression(codec);
        builder.append(0, None, Some(&data), &[]).unwrap();
        let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
        let records: Vec<_> = batch
            .records(DecompressionLimits::new(LIMIT_BYTES))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(records[0].value.as_ref().unwrap().len(), data.len());
    }
}

#[test]
fn a_snappy_block_claiming_four_gib_is_refused_before_allocating() {
    let plain = BatchBuilder::new(0).build().unwrap();
    // A raw snappy block whose length preamble says u32::MAX bytes, followed by
    // one literal: decoding it honestly would need 4 GiB of output.
    let raw = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00];
    let mut xerial = vec![
        0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
    ];
    xerial.extend_from_slice(&(raw.len() as i32).to_be_bytes());
    xerial.extend_from_slice(&raw);
    for section in [&raw[..], &xerial] {
        let bytes = rewrap_compressed(&plain, Compression::Snappy, section);
        let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
        let error = first_error(&batch);
        assert!(
            matches!(error, Error::DecompressedTooLarge { .. }),
            "{error:?}"
        );
    }
}

#[test]
fn many_small_xerial_blocks_are_limited_in_total() {
    let plain = BatchBuilder::new(0).build().unwrap();
    let section = support::snappy_xerial(&vec![0u8; LIMIT_BYTES + 1], 32 * 1024);
    let batch = RecordBatch::new(Bytes::from(rewrap_compressed(
        &plain,
        Compression::Snappy,
        &section,
    )))
    .unwrap();
    assert!(matches!(
        first_error(&batch),
        Error::DecompressedTooLarge { .. }
    ));
}

#[test]
fn a_zstd_frame_asking_for_a_huge_window_is_refused() {
    let plain = BatchBuilder::new(0).build().unwrap();
    // A frame header with no content size and a 128 MiB window (Window_Descriptor
    // exponent 17 => 2^27, the most zstd accepts by default), then one empty last
    // raw block. A decoder trusting it reserves the window before producing a byte.
    let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3, 0x01, 0x00, 0x00];
    let batch = RecordBatch::new(Bytes::from(rewrap_compressed(
        &plain,
        Compression::Zstd,
        &frame,
    )))
    .unwrap();
    let error = first_error(&batch);
    assert!(
        matches!(
            error,
            Error::Decompress {
                compression: Compression::Zstd,
                ..
            }
        ),
        "{error:?}"
    );
}
