//! Errors of decoding and encoding. Kafka error *codes* are response data, not these.

/// Why a sequence of bytes could not be decoded into a message.
///
/// Decoding stops at the first problem; nothing beyond the bytes of the frame has been
/// allocated when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ended in the middle of a value.
    #[error("{what}: needs {needed} bytes but only {available} are left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A length or count claims more than the bytes left in the frame.
    #[error("{what}: length {length} is larger than the {available} bytes left")]
    LengthTooLarge {
        /// The field being read.
        what: &'static str,
        /// The length read off the wire.
        length: usize,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A negative length other than the null marker -1.
    #[error("{what}: invalid negative length {length}")]
    NegativeLength {
        /// The field being read.
        what: &'static str,
        /// The length read off the wire.
        length: i64,
    },
    /// A null where the version does not allow one.
    #[error("{what}: null is not allowed in this version")]
    UnexpectedNull {
        /// The field being read.
        what: &'static str,
    },
    /// A varint with more continuation bytes than its type can hold.
    #[error("{what}: varint is too long")]
    VarintTooLong {
        /// The field being read.
        what: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("{what}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        what: &'static str,
    },
    /// A message version outside the versions the specs define.
    #[error("{message} has no version {version}")]
    UnsupportedVersion {
        /// The message type.
        message: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// An API key this codec does not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
}

/// Why a message could not be encoded at the version asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A message version outside the versions the specs define.
    #[error("{message} has no version {version}")]
    UnsupportedVersion {
        /// The message type.
        message: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A field that this version cannot carry holds a non-default value; dropping it
    /// silently would change the meaning of the message.
    #[error("{what} cannot be sent in version {version}")]
    UnsupportedField {
        /// The field.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A null in a field that this version does not allow to be null.
    #[error("{what} cannot be null in version {version}")]
    UnexpectedNull {
        /// The field.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A string, bytes or array longer than its length prefix can express.
    #[error("{what}: length {length} does not fit its length prefix")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The length of the value.
        length: usize,
    },
}
