//! The batch attributes field: codec, timestamp type and flags.

use crate::compression::Compression;
use crate::error::{Error, Result};

/// What a batch's timestamps mean (attributes bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Timestamps were set by the producer.
    CreateTime,
    /// The broker stamped the batch when appending it to the log; every record's
    /// timestamp is then the batch's max timestamp.
    LogAppendTime,
}

/// A batch's attributes, with the codec bits known to name a real codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attributes {
    bits: i16,
    // Kept alongside the bits so `compression()` needs no fallible conversion.
    compression: Compression,
}

impl Attributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const TIMESTAMP_TYPE: i16 = 0x08;
    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;
    const DELETE_HORIZON: i16 = 0x40;

    /// Attributes with the given codec and every flag clear (CreateTime).
    pub fn new(compression: Compression) -> Self {
        Attributes {
            bits: i16::from(compression.id()),
            compression,
        }
    }

    /// Interprets a raw attributes field, rejecting codec ids Kafka does not define.
    /// Bits Kafka does not use are kept as they are.
    pub fn from_bits(bits: i16) -> Result<Self> {
        let codec = (bits & Self::COMPRESSION_MASK) as u8;
        let compression = Compression::from_id(codec).ok_or(Error::UnknownCompression { codec })?;
        Ok(Attributes { bits, compression })
    }

    /// The raw field.
    pub fn bits(self) -> i16 {
        self.bits
    }

    /// The codec of the records section.
    pub fn compression(self) -> Compression {
        self.compression
    }

    /// What the batch's timestamps mean.
    pub fn timestamp_type(self) -> TimestampType {
        if self.bits & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(self) -> bool {
        self.bits & Self::TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records (such as transaction markers)
    /// rather than data.
    pub fn is_control(self) -> bool {
        self.bits & Self::CONTROL != 0
    }

    /// Whether the batch's base timestamp is a delete horizon set by compaction.
    pub fn has_delete_horizon_ms(self) -> bool {
        self.bits & Self::DELETE_HORIZON != 0
    }

    /// These attributes with the given codec.
    pub fn with_compression(self, compression: Compression) -> Self {
        let bits = (self.bits & !Self::COMPRESSION_MASK) | i16::from(compression.id());
        Attributes { bits, compression }
    }

    /// These attributes with the given timestamp type.
    pub fn with_timestamp_type(self, timestamp_type: TimestampType) -> Self {
        let log_append_time = timestamp_type == TimestampType::LogAppendTime;
        self.with_flag(Self::TIMESTAMP_TYPE, log_append_time)
    }

    /// These attributes with the transactional flag set or cleared.
    pub fn with_transactional(self, transactional: bool) -> Self {
        self.with_flag(Self::TRANSACTIONAL, transactional)
    }

    /// These attributes with the control flag set or cleared.
    pub fn with_control(self, control: bool) -> Self {
        self.with_flag(Self::CONTROL, control)
    }

    fn with_flag(self, flag: i16, set: bool) -> Self {
        let bits = if set {
            self.bits | flag
        } else {
            self.bits & !flag
        };
        Attributes { bits, ..self }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bits_decode_per_the_protocol_guide() {
        let attributes = Attributes::from_bits(0b0111_1100).unwrap();
        assert_eq!(attributes.compression(), Compression::Zstd);
        assert_eq!(attributes.timestamp_type(), TimestampType::LogAppendTime);
        assert!(attributes.is_transactional());
        assert!(attributes.is_control());
        assert!(attributes.has_delete_horizon_ms());

        let plain = Attributes::from_bits(0).unwrap();
        assert_eq!(plain.compression(), Compression::None);
        assert_eq!(plain.timestamp_type(), TimestampType::CreateTime);
        assert!(!plain.is_transactional() && !plain.is_control() && !plain.has_delete_horizon_ms());
    }

    #[test]
    fn unknown_codecs_are_rejected_with_their_id() {
        for codec in 5..=7u8 {
            let error = Attributes::from_bits(i16::from(codec) | 0x10).unwrap_err();
            assert!(matches!(error, Error::UnknownCompression { codec: c } if c == codec));
        }
    }

    #[test]
    fn builders_set_and_clear_single_bits() {
        let attributes = Attributes::new(Compression::Lz4)
            .with_timestamp_type(TimestampType::LogAppendTime)
            .with_transactional(true)
            .with_control(true);
        assert_eq!(attributes.bits(), 0b0011_1011);
        assert_eq!(
            attributes.with_compression(Compression::Snappy).bits(),
            0b0011_1010
        );
        let cleared = attributes
            .with_timestamp_type(TimestampType::CreateTime)
            .with_transactional(false)
            .with_control(false);
        assert_eq!(cleared, Attributes::new(Compression::Lz4));
    }
}
