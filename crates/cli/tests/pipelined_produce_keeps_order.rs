//! Produce requests pipelined on one connection are applied in the order they were sent,
//! as Kafka applies them (it reads a connection's next request only after answering the
//! previous one). Clients rely on it: librdkafka and the Java client keep up to five
//! Produce requests in flight per connection, and with idempotence every batch must
//! follow the one before it, or the broker answers OUT_OF_ORDER_SEQUENCE_NUMBER and the
//! producer fails fatally.
//!
//! The requests are written by hand (fjord-protocol and fjord-records) so that the test
//! controls exactly what is in flight.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use fjord_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use fjord_protocol::messages::{InitProducerIdRequest, ProduceRequest};
use fjord_records::BatchBuilder;
use fjord_testkit::TestBroker;
use fjord_testkit::clients::create_topic;
use fjord_testkit::raw::RawConnection;

const TOPIC: &str = "pipelined";
const PRODUCE_VERSION: i16 = 9;
/// Requests in flight at once: librdkafka's default `max.in.flight` is 5; more makes a
/// reordering likelier to show.
const IN_FLIGHT: usize = 5;
const ROUNDS: usize = 200;

/// One record with sequence `sequence` of producer `producer` (or no producer).
fn batch(producer: Option<(i64, i16)>, sequence: i32) -> Bytes {
    let mut builder = BatchBuilder::new(0);
    if let Some((id, epoch)) = producer {
        builder = builder.producer(id, epoch, sequence);
    }
    let value = format!("record {sequence}");
    builder
        .append(1_700_000_000_000, None, Some(value.as_bytes()), &[])
        .unwrap();
    builder.build().unwrap()
}

fn produce(records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.to_owned(),
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

/// Sends `ROUNDS` groups of `IN_FLIGHT` pipelined one-record requests and checks each
/// answer: no error, and offsets in the order the requests were sent.
fn pipeline(idempotent: bool, acks: i16) {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), TOPIC, 1, &[]);
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let producer = idempotent.then(|| {
        let init = connection
            .request(
                &InitProducerIdRequest {
                    transactional_id: None,
                    transaction_timeout_ms: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                },
                4,
            )
            .unwrap();
        assert_eq!(init.error_code, 0, "InitProducerId");
        (init.producer_id, init.producer_epoch)
    });
    let mut sequence = 0;
    let mut expected_offset = 0;
    for round in 0..ROUNDS {
        let mut sent = Vec::with_capacity(IN_FLIGHT);
        for _ in 0..IN_FLIGHT {
            let request = produce(batch(producer, sequence), acks);
            sent.push((
                sequence,
                connection.send(&request, PRODUCE_VERSION).unwrap(),
            ));
            sequence += 1;
        }
        for (sequence, correlation_id) in sent {
            let response = connection
                .receive::<ProduceRequest>(PRODUCE_VERSION, correlation_id)
                .unwrap();
            let partition = &response.responses[0].partition_responses[0];
            assert_eq!(
                (partition.error_code, partition.base_offset),
                (0, expected_offset),
                "round {round}: the request with sequence {sequence} ({:?})",
                partition.error_message
            );
            expected_offset += 1;
        }
    }
}

#[test]
fn idempotent_batches_pipelined_on_one_connection() {
    pipeline(true, -1);
}

#[test]
fn plain_batches_pipelined_on_one_connection() {
    pipeline(false, 1);
}
