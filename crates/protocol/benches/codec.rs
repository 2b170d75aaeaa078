//! Encode and decode throughput of the two messages that carry records: a Produce
//! request and a Fetch response, each with 1 MiB of record batches.
//!
//! Run with `cargo bench -p fjord-protocol --bench codec`.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fjord_protocol::Message;
use fjord_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use fjord_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use fjord_protocol::messages::{FetchResponse, ProduceRequest};
use fjord_records::BatchBuilder;

const RECORDS_BYTES: usize = 1 << 20;
const VALUE_BYTES: usize = 1024;

/// 1 MiB of uncompressed record batches of 1 KiB values, as a producer would send them.
fn records() -> Bytes {
    let value = vec![b'x'; VALUE_BYTES];
    let mut out = BytesMut::new();
    let mut offset = 0;
    while out.len() < RECORDS_BYTES {
        let mut builder = BatchBuilder::new(offset);
        for i in 0..100 {
            let key = format!("key-{i}");
            builder
                .append(
                    1_700_000_000_000 + i,
                    Some(key.as_bytes()),
                    Some(&value),
                    &[],
                )
                .unwrap();
        }
        offset += 100;
        out.extend_from_slice(&builder.build().unwrap());
    }
    out.freeze()
}

fn produce_request(records: Bytes) -> ProduceRequest {
    ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn fetch_response(records: Bytes) -> FetchResponse {
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: 1_000_000,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn bench_message<T: Message>(c: &mut Criterion, name: &str, message: &T, version: i16) {
    let mut encoded = BytesMut::new();
    message.encode(&mut encoded, version).unwrap();
    let encoded = encoded.freeze();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut buf = BytesMut::with_capacity(encoded.len());
            message.encode(&mut buf, version).unwrap();
            buf
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| T::decode(&mut encoded.clone(), version).unwrap())
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let records = records();
    bench_message(
        c,
        "produce_request_v9_1MiB",
        &produce_request(records.clone()),
        9,
    );
    bench_message(c, "fetch_response_v12_1MiB", &fetch_response(records), 12);
}

criterion_group!(benches, codec);
criterion_main!(benches);
