//! Writes seed corpora for the fuzz targets: `cargo run --example seeds [DIR]`
//! (default `corpus`, relative to this crate), making `DIR/decode_request` and
//! `DIR/record_batch`.
//!
//! - decode_request: for every API and version, a random valid request (from
//!   `fjord_protocol::testing`) as a whole frame, and its body in the target's
//!   direct mode (`[0x01, api index, version - min, body...]`).
//! - record_batch: batches from `BatchBuilder` with every codec, a transaction
//!   marker, an empty batch, a LogAppendTime batch, and all of them concatenated.
//!
//! Request frames captured from real clients under `crates/protocol/tests/fixtures/`
//! (`*.bin`, frames without their length prefix) are added as they are to
//! decode_request, and the `records` of the Produce requests among them to
//! record_batch.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use fjord_protocol::header::{decode_request, encode_request};
use fjord_protocol::testing::{Random, Rng};
use fjord_protocol::{ApiKey, RequestHeader, RequestKind};
use fjord_records::{
    BatchBuilder, Compression, ControlRecordType, EndTransactionMarker, RecordBatchMut,
    TimestampType,
};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn main() -> Result<()> {
    let root = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    let requests = write_request_seeds(&root.join("decode_request"))?;
    let batches = write_batch_seeds(&root.join("record_batch"))?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/protocol/tests/fixtures");
    let (fixture_requests, fixture_batches) = write_fixture_seeds(&fixtures, &root)?;
    println!(
        "wrote {requests} decode_request and {batches} record_batch seeds under {}, \
         and from {}: {fixture_requests} frames and {fixture_batches} records fields",
        root.display(),
        fixtures.display()
    );
    Ok(())
}

/// Copies captured frames and the records their Produce requests carry; returns how
/// many of each it wrote. No fixtures directory means no seeds from it.
fn write_fixture_seeds(fixtures: &Path, root: &Path) -> Result<(usize, usize)> {
    let mut frames = Vec::new();
    collect_bin_files(fixtures, &mut frames)?;
    frames.sort();
    let mut written = (0, 0);
    for path in frames {
        let name = path
            .strip_prefix(fixtures)?
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "-");
        let frame = Bytes::from(fs::read(&path)?);
        fs::write(
            root.join("decode_request").join(format!("fixture-{name}")),
            &frame,
        )?;
        written.0 += 1;
        let Ok((_, RequestKind::Produce(produce))) = decode_request(frame) else {
            continue;
        };
        let records = produce
            .topic_data
            .iter()
            .flat_map(|topic| &topic.partition_data)
            .filter_map(|partition| partition.records.as_ref());
        for (index, records) in records.enumerate() {
            let seed = root
                .join("record_batch")
                .join(format!("fixture-{name}-{index}"));
            fs::write(seed, records)?;
            written.1 += 1;
        }
    }
    Ok(written)
}

fn collect_bin_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_bin_files(&path, found)?;
        } else if path.extension().is_some_and(|extension| extension == "bin") {
            found.push(path);
        }
    }
    Ok(())
}

/// A random request of `api_key` at `version`.
fn random_request(api_key: ApiKey, version: i16, seed: u64) -> RequestKind {
    let rng = &mut Rng::new(seed);
    macro_rules! random_of {
        ($variant:ident, $request_module:ident, $request:ident, $response_module:ident, $response:ident) => {
            if api_key == ApiKey::$variant {
                return RequestKind::$variant(
                    fjord_protocol::messages::$request_module::$request::random(rng, version),
                );
            }
        };
    }
    fjord_protocol::for_each_api!(random_of);
    unreachable!("{api_key:?} is missing from for_each_api")
}

fn write_request_seeds(dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir)?;
    let mut written = 0;
    for (index, &api_key) in ApiKey::ALL.iter().enumerate() {
        let versions = api_key.valid_versions();
        for version in versions.min..=versions.max {
            let body = random_request(
                api_key,
                version,
                0x5eed ^ (index as u64) << 16 ^ version as u64,
            );
            let header = RequestHeader {
                request_api_key: api_key.key(),
                request_api_version: version,
                correlation_id: 7,
                client_id: Some("fjord-seed".to_owned()),
                ..Default::default()
            };
            let mut frame = BytesMut::new();
            encode_request(&mut frame, &header, &body)?;
            fs::write(
                dir.join(format!("frame-{}-v{version}", api_key.name())),
                &frame,
            )?;

            let mut direct = BytesMut::new();
            direct.extend_from_slice(&[
                0x01,
                u8::try_from(index)?,
                u8::try_from(version - versions.min)?,
            ]);
            body.encode(&mut direct, version)?;
            fs::write(
                dir.join(format!("direct-{}-v{version}", api_key.name())),
                &direct,
            )?;
            written += 2;
        }
    }
    Ok(written)
}

fn write_batch_seeds(dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir)?;
    let mut seeds: Vec<(String, Bytes)> = Vec::new();
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut builder = BatchBuilder::new(100)
            .partition_leader_epoch(3)
            .producer(42, 1, 0)
            .compression(codec);
        builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
        builder.append(
            1_700_000_000_005,
            None,
            Some(b"tombstone?"),
            &[(b"h", Some(b"v"))],
        )?;
        builder.append(
            1_699_999_999_990,
            Some(b""),
            None,
            &[(b"h", None), (b"h2", Some(b""))],
        )?;
        seeds.push((format!("batch-{}", codec.name()), builder.build()?));
    }

    seeds.push(("empty".to_owned(), BatchBuilder::new(0).build()?));

    let mut marker = BatchBuilder::new(200)
        .producer(42, 1, -1)
        .transactional(true)
        .control(true);
    marker.append_end_transaction_marker(
        1_700_000_000_100,
        &EndTransactionMarker {
            control_type: ControlRecordType::Commit,
            coordinator_epoch: 5,
        },
    )?;
    seeds.push(("commit-marker".to_owned(), marker.build()?));

    let mut log_append = BatchBuilder::new(300);
    log_append.append(1, Some(b"k"), Some(b"v"), &[])?;
    let mut log_append = log_append.build()?.to_vec();
    RecordBatchMut::new(&mut log_append)?.set_max_timestamp(TimestampType::LogAppendTime, 9)?;
    seeds.push(("log-append-time".to_owned(), Bytes::from(log_append)));

    let all: Vec<u8> = seeds
        .iter()
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect();
    seeds.push(("concatenated".to_owned(), Bytes::from(all)));

    for (name, bytes) in &seeds {
        fs::write(dir.join(name), bytes)?;
    }
    Ok(seeds.len())
}
