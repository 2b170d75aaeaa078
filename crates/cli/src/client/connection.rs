//! One connection to one broker: typed requests at the version negotiated with
//! ApiVersions, one at a time, each with a time limit.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fjord_protocol::header::{request_header_version, response_header_version};
use fjord_protocol::messages::ApiVersionsRequest;
use fjord_protocol::{ApiKey, Message, Request, RequestHeader, ResponseHeader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::address::BrokerAddress;
use super::error::{Error, ErrorCode, Result};
use super::versions::{BrokerVersions, ClientRequest, negotiate};

/// The client id in every request header, as brokers log it.
const CLIENT_ID: &str = "fjord-cli";

/// Largest response frame accepted. A group description or an offset listing of a
/// large cluster stays far below; a bigger length is a broken or hostile peer.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A connection to one broker.
pub struct Connection {
    stream: TcpStream,
    address: BrokerAddress,
    versions: BrokerVersions,
    correlation_id: i32,
    timeout: Duration,
    /// Set after an I/O error or a timeout: the stream may hold half a frame or a late
    /// answer, so nothing more is sent on it.
    broken: bool,
}

impl Connection {
    /// Connects to `address` and asks which API versions it speaks. `timeout` bounds
    /// the TCP handshake and then every request.
    pub async fn connect(address: &BrokerAddress, timeout: Duration) -> Result<Connection> {
        let connect = TcpStream::connect((address.host.as_str(), address.port));
        let stream = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(cause)) => {
                return Err(Error::Connect {
                    broker: address.clone(),
                    cause,
                });
            }
            Err(_) => {
                return Err(Error::Connect {
                    broker: address.clone(),
                    cause: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {} ms", timeout.as_millis()),
                    ),
                });
            }
        };
        // Requests are small and answered one at a time: Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        let mut connection = Connection {
            stream,
            address: address.clone(),
            versions: BrokerVersions::default(),
            correlation_id: 0,
            timeout,
            broken: false,
        };
        connection.versions = connection.api_versions().await?;
        Ok(connection)
    }

    /// The broker's address.
    pub fn address(&self) -> &BrokerAddress {
        &self.address
    }

    /// The API versions the broker offered when the connection was opened.
    pub fn versions(&self) -> &BrokerVersions {
        &self.versions
    }

    /// Whether an earlier failure left the connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The version of `R` this connection sends: the newest both sides speak.
    pub fn version_of<R: ClientRequest>(&self) -> Result<i16> {
        negotiate(R::SPOKEN, self.versions.get(R::API_KEY)).ok_or(Error::UnsupportedApi {
            broker: self.address.clone(),
            api: R::API_KEY.name(),
            min: R::SPOKEN.min,
            max: R::SPOKEN.max,
        })
    }

    /// Sends `request` at the negotiated version and returns the broker's response.
    pub async fn request<R: ClientRequest>(&mut self, request: &R) -> Result<R::Response> {
        let version = self.version_of::<R>()?;
        let mut body = self.exchange(request, version).await?;
        self.decode::<R>(&mut body, version)
    }

    fn decode<R: Request>(&self, body: &mut Bytes, version: i16) -> Result<R::Response> {
        R::Response::decode(body, version).map_err(|error| Error::Protocol {
            broker: self.address.clone(),
            api: R::API_KEY.name(),
            detail: format!("v{version}: {error}"),
        })
    }

    /// ApiVersions, falling back to the version the broker offers when it does not
    /// speak ours: it then answers in v0 with UNSUPPORTED_VERSION and its own range.
    async fn api_versions(&mut self) -> Result<BrokerVersions> {
        let request = ApiVersionsRequest {
            client_software_name: "fjord-cli".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Default::default()
        };
        let mut version = ApiVersionsRequest::SPOKEN.max;
        // Two rounds: ours, then the broker's; a broker refusing its own offer is broken.
        for _ in 0..2 {
            let mut body = self.exchange(&request, version).await?;
            // Every ApiVersions version starts with the error code.
            let error_code = body.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
            let answered_in = if error_code == Some(ErrorCode::UNSUPPORTED_VERSION.0) {
                0
            } else {
                version
            };
            let response = self.decode::<ApiVersionsRequest>(&mut body, answered_in)?;
            match ErrorCode::check(response.error_code) {
                Ok(()) => return Ok(BrokerVersions::from_response(&response.api_keys)),
                Err(ErrorCode::UNSUPPORTED_VERSION) => {
                    let offered = BrokerVersions::from_response(&response.api_keys);
                    version =
                        negotiate(ApiVersionsRequest::SPOKEN, offered.get(ApiKey::ApiVersions))
                            .ok_or(Error::UnsupportedApi {
                                broker: self.address.clone(),
                                api: ApiKey::ApiVersions.name(),
                                min: ApiVersionsRequest::SPOKEN.min,
                                max: ApiVersionsRequest::SPOKEN.max,
                            })?;
                }
                Err(code) => {
                    return Err(Error::kafka(
                        format!("asking {} for its API versions", self.address),
                        code,
                    ));
                }
            }
        }
        Err(Error::Protocol {
            broker: self.address.clone(),
            api: ApiKey::ApiVersions.name(),
            detail: "refused the version it offered".to_owned(),
        })
    }

    /// Sends one request and returns the body of its response, after the header.
    async fn exchange<R: Request>(&mut self, request: &R, version: i16) -> Result<Bytes> {
        let api = R::API_KEY.name();
        if self.broken {
            return Err(Error::Io {
                broker: self.address.clone(),
                api,
                cause: io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the connection was dropped after an earlier failure",
                ),
            });
        }
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = encode_frame(request, version, self.correlation_id)?;
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.round_trip::<R>(&frame, version)).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(error)) => {
                self.broken = true;
                Err(error)
            }
            Err(_) => {
                self.broken = true;
                Err(Error::Timeout {
                    broker: self.address.clone(),
                    api,
                    timeout_ms: timeout.as_millis(),
                })
            }
        }
    }

    async fn round_trip<R: Request>(&mut self, frame: &[u8], version: i16) -> Result<Bytes> {
        let api = R::API_KEY.name();
        let io_error = |address: &BrokerAddress, cause: io::Error| Error::Io {
            broker: address.clone(),
            api,
            cause,
        };
        self.stream
            .write_all(frame)
            .await
            .map_err(|e| io_error(&self.address, e))?;
        let length = self
            .stream
            .read_i32()
            .await
            .map_err(|e| io_error(&self.address, e))?;
        let length = usize::try_from(length)
            .ok()
            .filter(|&length| length <= RESPONSE_BYTES_MAX)
            .ok_or_else(|| Error::Protocol {
                broker: self.address.clone(),
                api,
                detail: format!(
                    "frame length {length} (at most {RESPONSE_BYTES_MAX} bytes are accepted)"
                ),
            })?;
        // Grows with what arrives rather than trusting the length up front.
        let mut body = Vec::with_capacity(length.min(64 * 1024));
        (&mut self.stream)
            .take(length as u64)
            .read_to_end(&mut body)
            .await
            .map_err(|e| io_error(&self.address, e))?;
        if body.len() < length {
            return Err(io_error(
                &self.address,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the broker closed the connection after {} of {length} bytes",
                        body.len()
                    ),
                ),
            ));
        }
        let mut body = Bytes::from(body);
        let header =
            ResponseHeader::decode(&mut body, response_header_version(R::API_KEY, version))
                .map_err(|error| Error::Protocol {
                    broker: self.address.clone(),
                    api,
                    detail: format!("response header: {error}"),
                })?;
        if header.correlation_id != self.correlation_id {
            return Err(Error::Protocol {
                broker: self.address.clone(),
                api,
                detail: format!(
                    "correlation id {} answers request {}",
                    header.correlation_id, self.correlation_id
                ),
            });
        }
        Ok(body)
    }
}

/// `request` as a whole frame: length prefix, header, body.
fn encode_frame<R: Request>(request: &R, version: i16, correlation_id: i32) -> Result<BytesMut> {
    let header = RequestHeader {
        request_api_key: R::API_KEY.key(),
        request_api_version: version,
        correlation_id,
        client_id: Some(CLIENT_ID.to_owned()),
        ..Default::default()
    };
    let encode_error = |detail: String| Error::Encode {
        api: R::API_KEY.name(),
        version,
        detail,
    };
    let mut frame = BytesMut::with_capacity(256);
    frame.extend_from_slice(&[0; 4]);
    header
        .encode(&mut frame, request_header_version(R::API_KEY, version))
        .map_err(|e| encode_error(format!("header: {e}")))?;
    request
        .encode(&mut frame, version)
        .map_err(|e| encode_error(e.to_string()))?;
    let length = i32::try_from(frame.len() - 4)
        .map_err(|_| encode_error(format!("{} bytes is too large a frame", frame.len())))?;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(frame)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fjord_protocol::header::decode_request;
    use fjord_protocol::messages::api_versions_response::ApiVersion;
    use fjord_protocol::messages::{ApiVersionsResponse, DeleteGroupsRequest, RequestKind};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn frames_carry_their_length_and_header() {
        let request = DeleteGroupsRequest {
            groups_names: vec!["billing".to_owned()],
            ..Default::default()
        };
        let frame = encode_frame(&request, 2, 7).unwrap();
        assert_eq!(
            i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize,
            frame.len() - 4
        );
        let (header, body) = decode_request(Bytes::copy_from_slice(&frame[4..])).unwrap();
        assert_eq!(header.correlation_id, 7);
        assert_eq!(header.client_id.as_deref(), Some(CLIENT_ID));
        assert_eq!(body, RequestKind::DeleteGroups(request));
    }

    /// A fake broker that offers ApiVersions 0-3 and DeleteGroups 0-1, then runs `then`
    /// on the socket.
    async fn fake_broker<F, Fut>(then: F) -> BrokerAddress
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let correlation_id = read_request(&mut socket).await;
            let response = ApiVersionsResponse {
                api_keys: vec![
                    api(ApiKey::ApiVersions, 0, 3),
                    api(ApiKey::DeleteGroups, 0, 1),
                ],
                ..Default::default()
            };
            write_response(&mut socket, correlation_id, &response, 3).await;
            then(socket).await;
        });
        BrokerAddress {
            host: "127.0.0.1".to_owned(),
            port,
        }
    }

    fn api(key: ApiKey, min: i16, max: i16) -> ApiVersion {
        ApiVersion {
            api_key: key.key(),
            min_version: min,
            max_version: max,
            ..Default::default()
        }
    }

    async fn read_request(socket: &mut TcpStream) -> i32 {
        let length = socket.read_i32().await.unwrap();
        let mut frame = vec![0; length as usize];
        socket.read_exact(&mut frame).await.unwrap();
        let (header, _) = decode_request(Bytes::from(frame)).unwrap();
        header.correlation_id
    }

    async fn write_response<M: Message>(
        socket: &mut TcpStream,
        correlation: i32,
        body: &M,
        v: i16,
    ) {
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&correlation.to_be_bytes());
        body.encode(&mut frame, v).unwrap();
        let length = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&length.to_be_bytes());
        socket.write_all(&frame).await.unwrap();
    }

    #[tokio::test]
    async fn negotiates_the_newest_common_version_and_names_missing_apis() {
        let address = fake_broker(|_socket| async {}).await;
        let connection = Connection::connect(&address, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(connection.version_of::<DeleteGroupsRequest>().unwrap(), 1);
        let error = connection
            .version_of::<fjord_protocol::messages::ListGroupsRequest>()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{address} does not support ListGroups in versions 0-5, which fjord needs")
        );
    }

    #[tokio::test]
    async fn a_silent_broker_times_out_and_the_connection_is_dropped() {
        let address = fake_broker(|mut socket| async move {
            let _ = read_request(&mut socket).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
        .await;
        let mut connection = Connection::connect(&address, Duration::from_millis(200))
            .await
            .unwrap();
        let error = connection
            .request(&DeleteGroupsRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{error}");
        assert!(error.is_unreachable());
        assert!(connection.is_broken());
        assert_eq!(
            error.to_string(),
            format!("{address} did not answer DeleteGroups within 200 ms")
        );
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_before_it_is_read() {
        let address = fake_broker(|mut socket| async move {
            let _ = read_request(&mut socket).await;
            socket.write_i32(i32::MAX).await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
        .await;
        let mut connection = Connection::connect(&address, Duration::from_secs(5))
            .await
            .unwrap();
        let error = connection
            .request(&DeleteGroupsRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Protocol { .. }), "{error}");
        assert!(error.to_string().contains("frame length 2147483647"));
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_broker() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let address = BrokerAddress {
            host: "127.0.0.1".to_owned(),
            port,
        };
        let error = Connection::connect(&address, Duration::from_secs(5))
            .await
            .err()
            .unwrap();
        assert!(matches!(error, Error::Connect { .. }), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot connect to {address}: "))
        );
    }
}
