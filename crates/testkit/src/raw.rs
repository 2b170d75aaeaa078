//! A Kafka connection without a client library: typed requests encoded with
//! `fjord-protocol` over a blocking socket, and raw bytes for tests that send what no
//! client would.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use fjord_protocol::header::{request_header_version, response_header_version};
use fjord_protocol::{Message, Request, RequestHeader, ResponseHeader};

/// Largest response frame read; far above anything the tests ask for.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// One connection to a broker.
pub struct RawConnection {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawConnection {
    /// Connects to `addr`, with 30 s read and write timeouts.
    pub fn connect(addr: SocketAddr) -> io::Result<RawConnection> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(RawConnection {
            stream,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and reads its response.
    pub fn request<R: Request>(&mut self, request: &R, version: i16) -> io::Result<R::Response> {
        let correlation_id = self.send::<R>(request, version)?;
        self.receive::<R>(version, correlation_id)
    }

    /// Sends `request` at `version` without waiting for its response, for tests that
    /// pipeline requests; returns the correlation id to give [`receive`](Self::receive).
    pub fn send<R: Request>(&mut self, request: &R, version: i16) -> io::Result<i32> {
        self.correlation_id += 1;
        let frame = request_frame(request, version, self.correlation_id)?;
        self.stream.write_all(&frame)?;
        Ok(self.correlation_id)
    }

    /// Reads the next response, which must answer the request of `R` at `version` with
    /// `correlation_id`: Kafka answers each connection's requests in order.
    pub fn receive<R: Request>(
        &mut self,
        version: i16,
        correlation_id: i32,
    ) -> io::Result<R::Response> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length)?;
        let length = i32::from_be_bytes(length);
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l <= RESPONSE_BYTES_MAX)
            .ok_or_else(|| invalid(format!("response frame length {length}")))?;
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header =
            ResponseHeader::decode(&mut body, response_header_version(R::API_KEY, version))
                .map_err(|e| invalid(format!("response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(invalid(format!(
                "correlation id {} in the response to request {correlation_id}",
                header.correlation_id
            )));
        }
        R::Response::decode(&mut body, version)
            .map_err(|e| invalid(format!("{} v{version}: {e}", R::Response::NAME)))
    }

    /// Writes `bytes` as they are.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Closes the writing half: the broker reads end-of-stream after what was sent.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// Whether the broker closes the connection within `within`: reads, discarding
    /// anything that arrives, until end-of-stream or a reset (closed) or the time is up
    /// (still open).
    pub fn closed_by_broker(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if self.stream.set_read_timeout(Some(left)).is_err() {
                return true;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A reset or any other failure: the broker is gone from this socket.
                Err(_) => return true,
            }
        }
    }
}

/// `request` at `version` as a whole frame: length prefix, header (client id
/// "fjord-testkit"), body.
pub fn request_frame<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
) -> io::Result<Vec<u8>> {
    let header = RequestHeader {
        request_api_key: R::API_KEY.key(),
        request_api_version: version,
        correlation_id,
        client_id: Some("fjord-testkit".to_owned()),
        ..Default::default()
    };
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0; 4]);
    header
        .encode(&mut buf, request_header_version(R::API_KEY, version))
        .map_err(|e| invalid(format!("request header: {e}")))?;
    request
        .encode(&mut buf, version)
        .map_err(|e| invalid(format!("{} v{version}: {e}", R::NAME)))?;
    let length = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&length.to_be_bytes());
    Ok(buf.to_vec())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
