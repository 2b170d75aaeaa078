//! Compressed batches as other clients write them decode: raw snappy
//! (librdkafka), xerial-framed snappy (the Java client), and gzip, snappy and
//! LZ4 sections produced by an independent client (Sarama) with the CRCs it
//! published for them.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use fjord_records::{Compression, DecompressionLimits, Record, RecordBatch};
use support::{
    CODECS, FIXTURE_ONE_RECORD, rewrap, rewrap_compressed, snappy_raw, snappy_xerial, varied_batch,
};

fn records(batch: &RecordBatch) -> Vec<Record> {
    batch
        .records(DecompressionLimits::default())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn expected_records() -> Vec<Record> {
    let batch = RecordBatch::new(varied_batch(Compression::None).build().unwrap()).unwrap();
    records(&batch)
}

fn uncompressed_section() -> Vec<u8> {
    varied_batch(Compression::None).build().unwrap()[61..].to_vec()
}

#[test]
fn raw_snappy_as_librdkafka_writes_it() {
    let plain = varied_batch(Compression::None).build().unwrap();
    let section = snappy_raw(&plain[61..]);
    assert_ne!(section[0], 0x82, "must not look like xerial framing");
    let batch = RecordBatch::new(Bytes::from(rewrap_compressed(
        &plain,
        Compression::Snappy,
        &section,
    )))
    .unwrap();
    batch.verify_crc().unwrap();
    assert_eq!(records(&batch), expected_records());
}

#[test]
fn xerial_snappy_as_the_java_client_writes_it() {
    let plain = varied_batch(Compression::None).build().unwrap();
    // snappy-java's default 32 KiB blocks, and small blocks so records straddle them.
    for block_len in [32 * 1024, 100] {
        let section = snappy_xerial(&plain[61..], block_len);
        let batch = RecordBatch::new(Bytes::from(rewrap_compressed(
            &plain,
            Compression::Snappy,
            &section,
        )))
        .unwrap();
        assert_eq!(
            records(&batch),
            expected_records(),
            "block length {block_len}"
        );
    }
}

#[test]
fn producer_compressed_sections_decode_for_every_codec() {
    let plain = varied_batch(Compression::None).build().unwrap();
    for codec in CODECS {
        let batch =
            RecordBatch::new(Bytes::from(rewrap(&plain, codec, &uncompressed_section()))).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(records(&batch), expected_records(), "{codec}");
    }
}

/// Sections written by Sarama for the fixture's record, with the CRC it
/// published for each resulting batch.
#[test]
fn sections_from_an_independent_client_decode_and_match_its_crcs() {
    #[rustfmt::skip]
    let cases: [(Compression, &[u8], u32); 3] = [
        (
            Compression::Gzip,
            &[
                31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 0, 21, 0, 234, 255, 40, 0, 10, 0, 8, 1, 2,
                3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12, 3, 0, 173, 201, 88, 103, 21, 0, 0, 0,
            ],
            u32::from_be_bytes([231, 74, 206, 165]),
        ),
        (
            Compression::Snappy,
            &[21, 80, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12],
            u32::from_be_bytes([21, 0, 159, 97]),
        ),
        (
            Compression::Lz4,
            &[
                4, 34, 77, 24, 100, 112, 185, 21, 0, 0, 128, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6,
                7, 2, 6, 8, 9, 10, 4, 11, 12, 0, 0, 0, 0, 12, 59, 239, 146,
            ],
            u32::from_be_bytes([169, 74, 119, 197]),
        ),
    ];
    let fixture = RecordBatch::new(Bytes::from_static(&FIXTURE_ONE_RECORD)).unwrap();
    let expected = records(&fixture);
    for (codec, section, published_crc) in cases {
        let batch = RecordBatch::new(Bytes::from(rewrap_compressed(
            &FIXTURE_ONE_RECORD,
            codec,
            section,
        )))
        .unwrap();
        assert_eq!(batch.crc(), published_crc, "{codec}");
        batch.verify_crc().unwrap();
        assert_eq!(records(&batch), expected, "{codec}");
    }
}
