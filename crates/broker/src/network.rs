//! The Kafka listener: accepting connections, reading frames, answering in order.
//!
//! Each connection has a reader and a writer. The reader reads one frame at a time and
//! runs its handler until the request has taken effect, so a connection's requests take
//! effect in the order they were sent, as in Kafka. What a response still waits for after
//! that (the fsync of an acks=all produce, a fetch's long poll) runs as a task, so that
//! it does not hold up the next request. The writer sends responses in request order,
//! awaiting those tasks. A bounded queue between reader and writer limits the responses
//! in flight per connection: when it is full the reader stops reading, and the client's
//! further requests wait in the socket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use fjord_protocol::header::{RequestHeader, decode_request_header, encode_response};
use fjord_protocol::{ApiKey, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::Broker;
use crate::handlers::{self, Outcome};

/// Accepts connections until `shutdown` resolves.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(broker.config.connections_max));
    tokio::pin!(shutdown);
    loop {
        // Waiting for a permit before accepting leaves extra clients in the kernel's
        // accept queue instead of holding their sockets open without serving them.
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Running out of file descriptors is the usual cause; pausing keeps a
                    // tight error loop from spinning a core.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let broker = broker.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, broker).await;
            drop(permit);
        });
    }
}

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
enum CloseReason {
    #[error("frame of {length} bytes is larger than socket.request.max.bytes ({limit})")]
    FrameTooLarge { length: i64, limit: usize },
    #[error("frame length {0} is not positive")]
    BadFrameLength(i32),
    #[error("undecodable request header: {0}")]
    BadHeader(fjord_protocol::DecodeError),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("{0:?} is listed as supported but has no handler")]
    Unrouted(ApiKey),
    #[error("undecodable {api:?} v{version} request: {error}")]
    BadBody {
        api: ApiKey,
        version: i16,
        error: fjord_protocol::DecodeError,
    },
}

/// A response on its way to the writer, in request order: encoded already, or still
/// waiting in a task (an fsync, a long poll).
enum Pending {
    Ready(Bytes),
    Task(JoinHandle<Option<Bytes>>),
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let (pending_tx, pending_rx) =
        mpsc::channel::<Pending>(broker.config.connection_requests_in_flight_max);
    let writer_task = tokio::spawn(write_responses(writer, pending_rx, peer));
    match read_requests(reader, pending_tx, peer, &broker).await {
        Ok(()) => debug!(%peer, "client closed the connection"),
        Err(ReadError::Io(error)) => debug!(%peer, %error, "connection read failed"),
        Err(ReadError::Close(reason)) => warn!(%peer, %reason, "closing connection"),
    }
    // The writer finishes the responses already started, then closes the socket.
    if let Err(error) = writer_task.await {
        warn!(%peer, %error, "response writer failed");
    }
}

enum ReadError {
    Io(std::io::Error),
    Close(CloseReason),
}

impl From<std::io::Error> for ReadError {
    fn from(error: std::io::Error) -> Self {
        ReadError::Io(error)
    }
}

async fn read_requests(
    mut reader: OwnedReadHalf,
    pending: mpsc::Sender<Pending>,
    peer: SocketAddr,
    broker: &Arc<Broker>,
) -> Result<(), ReadError> {
    loop {
        let length = match reader.read_i32().await {
            Ok(length) => length,
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        if length <= 0 {
            return Err(ReadError::Close(CloseReason::BadFrameLength(length)));
        }
        // The limit is checked before reading, so a claimed 2 GiB frame costs nothing.
        if length as usize > broker.config.request_bytes_max {
            return Err(ReadError::Close(CloseReason::FrameTooLarge {
                length: i64::from(length),
                limit: broker.config.request_bytes_max,
            }));
        }
        let mut frame = BytesMut::zeroed(length as usize);
        reader.read_exact(&mut frame).await?;
        let mut frame = frame.freeze();
        let header = decode_request_header(&mut frame)
            .map_err(|e| ReadError::Close(CloseReason::BadHeader(e)))?;
        // Handled here, one request at a time: a connection's requests take effect in
        // the order they were sent.
        let Some(response) = handle_request(broker, header, frame, peer).await? else {
            continue;
        };
        if pending.send(response).await.is_err() {
            // The writer is gone: the socket failed on its side.
            return Ok(());
        }
    }
}

/// Decodes the body and runs its handler to the point where its effects are applied;
/// returns the response, if any, as a frame or as a task that will produce one.
async fn handle_request(
    broker: &Arc<Broker>,
    header: RequestHeader,
    mut body: Bytes,
    peer: SocketAddr,
) -> Result<Option<Pending>, ReadError> {
    let Some(api) = ApiKey::from_i16(header.request_api_key) else {
        return Err(ReadError::Close(CloseReason::UnknownApiKey(
            header.request_api_key,
        )));
    };
    let version = header.request_api_version;
    let correlation_id = header.correlation_id;
    if !handlers::is_supported(api, version) {
        // A client that asks for a version we do not have learns of it from ApiVersions;
        // Kafka answers the ApiVersions probe at version 0 with UNSUPPORTED_VERSION and
        // the list, so the client can pick a version both sides know.
        if api == ApiKey::ApiVersions {
            let response = handlers::api_versions::unsupported_version_response();
            return Ok(encode_frame(correlation_id, 0, &response, peer).map(Pending::Ready));
        }
        return Err(ReadError::Close(CloseReason::UnsupportedVersion {
            api,
            version,
        }));
    }
    let request =
        fjord_protocol::RequestKind::decode(api, &mut body, version).map_err(|error| {
            ReadError::Close(CloseReason::BadBody {
                api,
                version,
                error,
            })
        })?;
    let context = handlers::RequestContext {
        broker: broker.clone(),
        header,
        peer,
    };
    Ok(match handlers::dispatch(&context, request).await {
        Outcome::Respond(response) => {
            encode_frame(correlation_id, version, &response, peer).map(Pending::Ready)
        }
        Outcome::NoResponse => None,
        Outcome::Unrouted => return Err(ReadError::Close(CloseReason::Unrouted(api))),
        Outcome::Later(response) => Some(Pending::Task(tokio::spawn(async move {
            encode_frame(correlation_id, version, &response.await, peer)
        }))),
    })
}

/// Encodes a response with its length prefix and header.
fn encode_frame(
    correlation_id: i32,
    version: i16,
    response: &ResponseKind,
    peer: SocketAddr,
) -> Option<Bytes> {
    let mut frame = BytesMut::with_capacity(size_hint(response));
    frame.put_i32(0);
    if let Err(error) = encode_response(&mut frame, correlation_id, version, response) {
        // An encode error is a bug of ours (a handler filled a field the version cannot
        // carry). Closing beats sending a frame the client would misread.
        warn!(%peer, %error, api = ?response.api_key(), version, "cannot encode response");
        return None;
    }
    let length = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Some(frame.freeze())
}

/// A guess at the encoded size, so that a large fetch response is written into one
/// allocation instead of growing (and copying) its buffer a dozen times.
fn size_hint(response: &ResponseKind) -> usize {
    const OVERHEAD_BYTES: usize = 256;
    match response {
        ResponseKind::Fetch(fetch) => {
            fetch
                .responses
                .iter()
                .flat_map(|topic| &topic.partitions)
                .map(|p| p.records.as_ref().map_or(0, Bytes::len) + 64)
                .sum::<usize>()
                + OVERHEAD_BYTES
        }
        _ => OVERHEAD_BYTES,
    }
}

async fn write_responses(
    writer: OwnedWriteHalf,
    mut pending: mpsc::Receiver<Pending>,
    peer: SocketAddr,
) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(next) = pending.recv().await {
        let response = match next {
            Pending::Ready(frame) => Some(frame),
            Pending::Task(task) => match task.await {
                Ok(response) => response,
                Err(error) => {
                    // A handler panicked: a bug. The client would wait forever for this
                    // response, so the connection must close.
                    warn!(%peer, %error, "request handler failed; closing connection");
                    return;
                }
            },
        };
        let Some(frame) = response else { continue };
        if let Err(error) = writer.write_all(&frame).await {
            debug!(%peer, %error, "write failed");
            return;
        }
        // Flush when no further response is ready, so pipelined responses share writes.
        if pending.is_empty()
            && let Err(error) = writer.flush().await
        {
            debug!(%peer, %error, "flush failed");
            return;
        }
    }
    if let Err(error) = writer.shutdown().await {
        debug!(%peer, %error, "shutdown failed");
    }
    debug!(%peer, "connection closed");
}
