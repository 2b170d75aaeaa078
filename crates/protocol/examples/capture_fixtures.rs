//! A fake single-broker Kafka cluster that records the request frames clients send it.
//!
//! It exists to capture byte fixtures of real clients (see
//! `tests/fixtures/librdkafka-2.0.2/README.md`) and, because it answers with this crate's
//! encoders, to check that those clients accept our responses. It is not a broker: one
//! topic, `fixtures`, with one partition, kept in memory; no validation of what is produced.
//!
//! ```text
//! cargo run -p fjord-protocol --example capture_fixtures -- [port] [out-dir]
//! ```
//!
//! Every distinct request frame (the bytes after the 4-byte length prefix) is written to
//! `<out-dir>/<api_name>_v<version>.bin` for the first one of an API and version, then
//! `<api_name>_v<version>_2.bin` and so on, at most [`FRAMES_PER_API_VERSION_MAX`] of each.

use std::collections::HashMap;
use std::error::Error;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use fjord_protocol::header::{decode_request_header, encode_response};
use fjord_protocol::messages::api_versions_response::ApiVersion;
use fjord_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use fjord_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use fjord_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use fjord_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use fjord_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use fjord_protocol::{ApiKey, Message, RequestHeader, RequestKind, ResponseKind};

const PORT_DEFAULT: u16 = 19092;
const TOPIC: &str = "fixtures";
const NODE_ID: i32 = 1;
/// Larger than anything kcat sends for a two-record batch, small enough to refuse garbage.
const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Fetch polls repeat; a few of each API and version show every shape a client sends.
const FRAMES_PER_API_VERSION_MAX: usize = 4;
/// How long an empty fetch waits before answering, so that an idle consumer does not spin.
/// Kafka waits up to the request's `max_wait_ms`; a shorter cap keeps `kcat -e` quick.
const EMPTY_FETCH_WAIT_MS_MAX: u64 = 100;

/// Kafka's `UNSUPPORTED_VERSION`.
const ERROR_UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's `UNKNOWN_TOPIC_OR_PARTITION`.
const ERROR_UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// The APIs and versions we advertise: what `kcat -L`, `-P` and `-C` need, and no more.
const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    // Produce from v0, although librdkafka 2.0.2 sends v7: it only compresses with gzip,
    // snappy or lz4 when the broker's Produce range includes v0, and otherwise logs
    // "Broker does not support compression type gzip: not compressing batch" and sends
    // the batch uncompressed (librdkafka#4956). Kafka 4.0 advertises Produce v0-v2 for
    // this reason while refusing them (KAFKA-18659).
    (ApiKey::Produce, 0, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
];

/// One record batch as the producer sent it, with the offset we gave it.
struct Batch {
    base_offset: i64,
    /// The batch with its base offset rewritten to `base_offset`.
    bytes: Bytes,
}

#[derive(Default)]
struct State {
    log: Vec<Batch>,
    log_end_offset: i64,
    /// Content of the frames saved so far, per file stem, to skip exact repeats.
    saved: HashMap<String, Vec<Bytes>>,
}

struct Broker {
    port: u16,
    out_dir: PathBuf,
    state: Mutex<State>,
}

impl Broker {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic in another connection's thread leaves the log as it was between
        // requests; carrying on is fine for a capture tool.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let port = match args.next() {
        Some(port) => port.parse::<u16>()?,
        None => PORT_DEFAULT,
    };
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "fixtures".to_owned()));
    std::fs::create_dir_all(&out_dir)?;

    let listener = TcpListener::bind(("127.0.0.1", port))?;
    eprintln!(
        "capture_fixtures: listening on 127.0.0.1:{port}, saving to {}",
        out_dir.display()
    );
    let broker = Arc::new(Broker {
        port,
        out_dir,
        state: Mutex::new(State::default()),
    });
    for (connection_id, stream) in listener.incoming().enumerate() {
        let stream = stream?;
        let broker = Arc::clone(&broker);
        std::thread::spawn(move || {
            let peer = stream.peer_addr().ok();
            match serve(&broker, stream, connection_id) {
                Ok(()) => eprintln!("[{connection_id}] {peer:?} closed"),
                Err(error) => eprintln!("[{connection_id}] {peer:?} dropped: {error}"),
            }
        });
    }
    Ok(())
}

/// Serves one connection until the client closes it.
fn serve(
    broker: &Broker,
    mut stream: TcpStream,
    connection_id: usize,
) -> Result<(), Box<dyn Error>> {
    loop {
        let mut prefix = [0u8; 4];
        match stream.read_exact(&mut prefix) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        let length = usize::try_from(i32::from_be_bytes(prefix))?;
        if length > FRAME_BYTES_MAX {
            return Err(format!("frame of {length} bytes exceeds {FRAME_BYTES_MAX}").into());
        }
        let mut frame = vec![0u8; length];
        stream.read_exact(&mut frame)?;
        let frame = Bytes::from(frame);

        let mut rest = frame.clone();
        let header = decode_request_header(&mut rest)
            .map_err(|error| format!("cannot decode a {length}-byte request header: {error}"))?;
        let version = header.request_api_version;
        let api_key = ApiKey::from_i16(header.request_api_key)
            .ok_or_else(|| format!("unknown API key {}", header.request_api_key))?;
        eprintln!(
            "[{connection_id}] {} v{version} correlation {} client {:?} ({length} bytes)",
            api_key.name(),
            header.correlation_id,
            header.client_id,
        );
        save(broker, api_key, version, &frame)?;

        // Like Kafka, answer an ApiVersions request newer than we can decode rather than
        // drop the connection: its body may hold fields we do not know.
        let response =
            if api_key == ApiKey::ApiVersions && !ApiVersionsRequest::VERSIONS.contains(version) {
                Some(api_versions(version, false))
            } else {
                let request = RequestKind::decode(api_key, &mut rest, version)
                    .map_err(|error| format!("cannot decode a {length}-byte request: {error}"))?;
                respond(broker, &header, request)
            };
        let Some((version, response)) = response else {
            return Err(format!("no answer for {} v{version}", api_key.name()).into());
        };
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        encode_response(&mut buf, header.correlation_id, version, &response)?;
        let body_length = i32::try_from(buf.len() - 4)?;
        buf[..4].copy_from_slice(&body_length.to_be_bytes());
        stream.write_all(&buf)?;
    }
}

/// Writes `frame` to the output directory unless an identical frame of the same API and
/// version is already there, or enough of them are.
fn save(
    broker: &Broker,
    api_key: ApiKey,
    version: i16,
    frame: &Bytes,
) -> Result<(), Box<dyn Error>> {
    let stem = format!("{}_v{version}", snake_case(api_key.name()));
    let mut state = broker.state();
    let saved = state.saved.entry(stem.clone()).or_default();
    // The correlation id (bytes 4..8) differs between otherwise identical requests.
    let same_but_correlation = |other: &Bytes| {
        other.len() == frame.len() && other[..4] == frame[..4] && other[8..] == frame[8..]
    };
    if saved.len() >= FRAMES_PER_API_VERSION_MAX || saved.iter().any(same_but_correlation) {
        return Ok(());
    }
    saved.push(frame.clone());
    let name = match saved.len() {
        1 => format!("{stem}.bin"),
        n => format!("{stem}_{n}.bin"),
    };
    let path: PathBuf = Path::new(&broker.out_dir).join(name);
    std::fs::write(&path, frame)?;
    eprintln!("    saved {}", path.display());
    Ok(())
}

/// `ApiVersions` to `api_versions`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The response and the version to encode it at, or `None` for a request we do not serve.
fn respond(
    broker: &Broker,
    header: &RequestHeader,
    request: RequestKind,
) -> Option<(i16, ResponseKind)> {
    let version = header.request_api_version;
    let supported = SUPPORTED
        .iter()
        .any(|(key, min, max)| *key == request.api_key() && (*min..=*max).contains(&version));
    match request {
        RequestKind::ApiVersions(_) => Some(api_versions(version, supported)),
        _ if !supported => None,
        RequestKind::Metadata(request) => Some((
            version,
            ResponseKind::Metadata(metadata(broker, version, &request)),
        )),
        RequestKind::Produce(request) => {
            Some((version, ResponseKind::Produce(produce(broker, &request))))
        }
        RequestKind::ListOffsets(request) => Some((
            version,
            ResponseKind::ListOffsets(list_offsets(broker, version, &request)),
        )),
        RequestKind::Fetch(request) => {
            Some((version, ResponseKind::Fetch(fetch(broker, &request))))
        }
        _ => None,
    }
}

fn api_versions(version: i16, supported: bool) -> (i16, ResponseKind) {
    let api_keys = SUPPORTED
        .iter()
        .map(|(key, min, max)| ApiVersion {
            api_key: key.key(),
            min_version: *min,
            max_version: *max,
            ..Default::default()
        })
        .collect();
    // Like Kafka: a version we do not know is answered at v0 with UNSUPPORTED_VERSION and
    // our range, so that the client can retry at a version we share.
    let (version, error_code) = if supported {
        (version, 0)
    } else {
        (0, ERROR_UNSUPPORTED_VERSION)
    };
    let response = ApiVersionsResponse {
        error_code,
        api_keys,
        ..Default::default()
    };
    (version, ResponseKind::ApiVersions(response))
}

fn metadata(broker: &Broker, version: i16, request: &MetadataRequest) -> MetadataResponse {
    let partition = MetadataResponsePartition {
        partition_index: 0,
        leader_id: NODE_ID,
        leader_epoch: 0,
        replica_nodes: vec![NODE_ID],
        isr_nodes: vec![NODE_ID],
        ..Default::default()
    };
    let fixtures = MetadataResponseTopic {
        name: Some(TOPIC.to_owned()),
        partitions: vec![partition],
        ..Default::default()
    };
    // A null topic list asks for every topic; an empty one for none (brokers only).
    let topics = match &request.topics {
        None => vec![fixtures],
        Some(requested) => requested
            .iter()
            .map(|topic| match topic.name.as_deref() {
                Some(TOPIC) => fixtures.clone(),
                name => MetadataResponseTopic {
                    error_code: ERROR_UNKNOWN_TOPIC_OR_PARTITION,
                    name: name.map(str::to_owned),
                    ..Default::default()
                },
            })
            .collect(),
    };
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: NODE_ID,
            host: "127.0.0.1".to_owned(),
            port: i32::from(broker.port),
            ..Default::default()
        }],
        cluster_id: (version >= 2).then(|| "fjord-fixtures".to_owned()),
        controller_id: if version >= 1 { NODE_ID } else { -1 },
        topics,
        ..Default::default()
    }
}

fn produce(broker: &Broker, request: &ProduceRequest) -> ProduceResponse {
    let mut state = broker.state();
    let responses = request
        .topic_data
        .iter()
        .map(|topic| TopicProduceResponse {
            name: topic.name.clone(),
            partition_responses: topic
                .partition_data
                .iter()
                .map(|partition| {
                    let records = partition.records.clone().unwrap_or_default();
                    if topic.name != TOPIC || partition.index != 0 {
                        return PartitionProduceResponse {
                            index: partition.index,
                            error_code: ERROR_UNKNOWN_TOPIC_OR_PARTITION,
                            base_offset: -1,
                            ..Default::default()
                        };
                    }
                    let base_offset = append(&mut state, &records);
                    PartitionProduceResponse {
                        index: partition.index,
                        base_offset,
                        log_start_offset: 0,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ProduceResponse {
        responses,
        ..Default::default()
    }
}

/// Appends every v2 record batch in `records` to the log, giving each the next offsets,
/// and returns the offset of the first. Batches of the older formats are ignored.
fn append(state: &mut State, records: &Bytes) -> i64 {
    let base_offset = state.log_end_offset;
    let mut rest = records.clone();
    // A v2 batch: base offset (8), length (4), leader epoch (4), magic (1), CRC (4),
    // attributes (2), last offset delta (4), ... The CRC covers attributes onwards, so
    // rewriting the base offset keeps it valid.
    while rest.len() >= 61 {
        let batch_length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let Some(total) = usize::try_from(batch_length).ok().map(|n| n + 12) else {
            break;
        };
        if total > rest.len() || rest[16] != 2 {
            break;
        }
        let batch = rest.split_to(total);
        let last_offset_delta = i32::from_be_bytes([batch[23], batch[24], batch[25], batch[26]]);
        let mut bytes = BytesMut::from(&batch[..]);
        bytes[..8].copy_from_slice(&state.log_end_offset.to_be_bytes());
        state.log.push(Batch {
            base_offset: state.log_end_offset,
            bytes: bytes.freeze(),
        });
        state.log_end_offset += i64::from(last_offset_delta) + 1;
    }
    base_offset
}

fn list_offsets(
    broker: &Broker,
    version: i16,
    request: &ListOffsetsRequest,
) -> ListOffsetsResponse {
    let log_end_offset = broker.state().log_end_offset;
    let topics = request
        .topics
        .iter()
        .map(|topic| ListOffsetsTopicResponse {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|partition| {
                    if topic.name != TOPIC || partition.partition_index != 0 {
                        return ListOffsetsPartitionResponse {
                            partition_index: partition.partition_index,
                            error_code: ERROR_UNKNOWN_TOPIC_OR_PARTITION,
                            ..Default::default()
                        };
                    }
                    // -2 asks for the earliest offset; anything else we answer with the end.
                    let offset = if partition.timestamp == -2 {
                        0
                    } else {
                        log_end_offset
                    };
                    ListOffsetsPartitionResponse {
                        partition_index: partition.partition_index,
                        timestamp: -1,
                        offset,
                        leader_epoch: if version >= 4 { 0 } else { -1 },
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}

fn fetch(broker: &Broker, request: &FetchRequest) -> FetchResponse {
    let (log, log_end_offset) = {
        let state = broker.state();
        let log: Vec<(i64, Bytes)> = state
            .log
            .iter()
            .map(|batch| (batch.base_offset, batch.bytes.clone()))
            .collect();
        (log, state.log_end_offset)
    };
    let mut any_records = false;
    let responses = request
        .topics
        .iter()
        .map(|topic| FetchableTopicResponse {
            topic: topic.topic.clone(),
            topic_id: topic.topic_id,
            partitions: topic
                .partitions
                .iter()
                .map(|partition| {
                    if topic.topic != TOPIC || partition.partition != 0 {
                        return PartitionData {
                            partition_index: partition.partition,
                            error_code: ERROR_UNKNOWN_TOPIC_OR_PARTITION,
                            high_watermark: -1,
                            ..Default::default()
                        };
                    }
                    // Whole batches from the one holding the fetch offset onwards; the
                    // client skips records before its offset, as with a real broker.
                    let mut records = BytesMut::new();
                    for (base_offset, bytes) in &log {
                        let next = log
                            .iter()
                            .map(|(offset, _)| *offset)
                            .find(|offset| offset > base_offset)
                            .unwrap_or(log_end_offset);
                        if next > partition.fetch_offset {
                            records.extend_from_slice(bytes);
                        }
                    }
                    any_records |= !records.is_empty();
                    PartitionData {
                        partition_index: partition.partition,
                        high_watermark: log_end_offset,
                        last_stable_offset: log_end_offset,
                        log_start_offset: 0,
                        aborted_transactions: Some(Vec::new()),
                        records: Some(records.freeze()),
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    if !any_records {
        let wait_ms = u64::try_from(request.max_wait_ms).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(wait_ms.min(EMPTY_FETCH_WAIT_MS_MAX)));
    }
    FetchResponse {
        responses,
        ..Default::default()
    }
}
