//! Fjord's codec for the Kafka wire protocol.
//!
//! The message types in [`messages`] are generated from Kafka's own JSON message specs by
//! `cargo xtask codegen`; the primitives they use live in [`codec`]. No I/O happens here:
//! decoders take a [`bytes::Bytes`] holding one frame and return typed messages or a
//! [`DecodeError`]; encoders append to a [`bytes::BytesMut`].
//!
//! Decoding is safe against hostile input by construction: every length read off the
//! wire is checked against the bytes left in the frame before anything is allocated,
//! nothing panics, and `bytes`/`records` fields are zero-copy slices of the frame.

pub mod codec;
mod error;
pub mod header;
pub mod messages;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;

pub use codec::{TaggedFields, Uuid};
pub use error::{DecodeError, EncodeError};
pub use header::{RequestHeader, ResponseHeader};
pub use messages::{ApiKey, RequestKind, ResponseKind};

/// An inclusive range of message versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The oldest version.
    pub min: i16,
    /// The newest version.
    pub max: i16,
}

impl VersionRange {
    /// Whether `version` lies in the range.
    pub fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// A top-level message type: a request, a response, a header or a data structure.
pub trait Message: Sized + Default + Clone + std::fmt::Debug + PartialEq {
    /// The spec's name of the message, such as `ProduceRequest`.
    const NAME: &'static str;
    /// The versions the specs define.
    const VERSIONS: VersionRange;
    /// The versions that use compact encodings and tagged fields; `i16::MAX..=i16::MAX`
    /// when none do.
    const FLEXIBLE_VERSIONS: VersionRange;
    /// Versions that Kafka has deprecated, if any.
    const DEPRECATED_VERSIONS: Option<VersionRange>;

    /// Appends the message encoded at `version` to `buf`.
    fn encode(&self, buf: &mut bytes::BytesMut, version: i16) -> Result<(), EncodeError>;

    /// Decodes the message at `version` from the front of `buf`, advancing it.
    fn decode(buf: &mut bytes::Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// A request, tied to its API key and its response type.
pub trait Request: Message {
    /// The API this request belongs to.
    const API_KEY: ApiKey;
    /// The response type of this request.
    type Response: Message;
}
