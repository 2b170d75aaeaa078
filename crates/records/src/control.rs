//! End transaction markers: the control records a transaction coordinator has
//! partition leaders write to commit or abort a transaction.
//!
//! ```text
//! key:   version: int16 (0), type: int16 (0 abort, 1 commit)
//! value: version: int16 (0), coordinatorEpoch: int32
//! ```

use crate::error::{Error, Result};
use crate::record::Record;

/// The outcome a transaction marker records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The transaction was aborted; consumers reading committed data skip it.
    Abort,
    /// The transaction was committed.
    Commit,
}

impl ControlRecordType {
    /// The type's id in the control record key.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
        }
    }
}

/// A transaction marker's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EndTransactionMarker {
    /// Commit or abort.
    pub control_type: ControlRecordType,
    /// The epoch of the coordinator that decided; lets partitions fence markers
    /// from a coordinator that has since been replaced.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    const VERSION: i16 = 0;

    /// The control record key: version 0 and the type.
    pub fn key(&self) -> [u8; 4] {
        let mut key = [0; 4];
        key[..2].copy_from_slice(&Self::VERSION.to_be_bytes());
        key[2..].copy_from_slice(&self.control_type.id().to_be_bytes());
        key
    }

    /// The control record value: version 0 and the coordinator epoch.
    pub fn value(&self) -> [u8; 6] {
        let mut value = [0; 6];
        value[..2].copy_from_slice(&Self::VERSION.to_be_bytes());
        value[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        value
    }

    /// Reads a marker from a record of a control batch.
    ///
    /// Like the Java client, it accepts versions above 0 and ignores any bytes
    /// after the fields it knows, so newer markers still read.
    pub fn from_record(record: &Record) -> Result<Self> {
        let invalid = |reason| Error::InvalidControlRecord { reason };
        let key = record.key.as_deref().ok_or(invalid("null key"))?;
        let (key_version, control_type) = match key {
            [v0, v1, t0, t1, ..] => (
                i16::from_be_bytes([*v0, *v1]),
                i16::from_be_bytes([*t0, *t1]),
            ),
            _ => return Err(invalid("key shorter than 4 bytes")),
        };
        if key_version < 0 {
            return Err(invalid("negative key version"));
        }
        let control_type = match control_type {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            _ => return Err(invalid("control type is neither abort nor commit")),
        };
        let value = record.value.as_deref().ok_or(invalid("null value"))?;
        let (value_version, coordinator_epoch) = match value {
            [v0, v1, e0, e1, e2, e3, ..] => (
                i16::from_be_bytes([*v0, *v1]),
                i32::from_be_bytes([*e0, *e1, *e2, *e3]),
            ),
            _ => return Err(invalid("value shorter than 6 bytes")),
        };
        if value_version < 0 {
            return Err(invalid("negative value version"));
        }
        Ok(EndTransactionMarker {
            control_type,
            coordinator_epoch,
        })
    }
}
