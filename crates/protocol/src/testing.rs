//! Random values of every message for the round-trip, differential and hostile-input
//! tests. The generated code implements [`Random`] for every struct.

use bytes::Bytes;

use crate::{TaggedFields, Uuid};

/// Makes a random value of a message type that is valid at `version`: fields the
/// version does not carry keep their defaults, nulls appear only where allowed.
pub trait Random {
    /// A random value for `version`.
    fn random(rng: &mut Rng, version: i16) -> Self;
}

/// A small deterministic generator (xorshift64*), seeded by proptest, so that failures
/// reproduce from the seed alone.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Integers favour the edges, where encoders go wrong.
    fn edgy(&mut self) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => 1,
            _ => self.next_u64(),
        }
    }

    pub fn i8(&mut self) -> i8 {
        self.edgy() as i8
    }
    pub fn i16(&mut self) -> i16 {
        self.edgy() as i16
    }
    pub fn i32(&mut self) -> i32 {
        self.edgy() as i32
    }
    pub fn i64(&mut self) -> i64 {
        self.edgy() as i64
    }
    pub fn u16(&mut self) -> u16 {
        self.edgy() as u16
    }
    pub fn u32(&mut self) -> u32 {
        self.edgy() as u32
    }

    /// Finite floats only: NaN is never equal to itself, which would fail the round trip
    /// for reasons that have nothing to do with the codec.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() as i64) as f64 / 1024.0
    }

    pub fn string(&mut self) -> String {
        const ALPHABET: &[&str] = &["a", "b", "Z", "-", "_", ".", "0", "é", "火", " "];
        let length = self.below(8);
        (0..length)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    pub fn bytes(&mut self) -> Bytes {
        let length = self.below(24);
        (0..length)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    pub fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        Uuid(bytes)
    }

    pub fn vec<T>(&mut self, mut element: impl FnMut(&mut Rng) -> T) -> Vec<T> {
        let length = self.below(4);
        (0..length).map(|_| element(self)).collect()
    }

    /// `None` one time in four where `allowed`, otherwise a value.
    pub fn nullable<T>(&mut self, allowed: bool, value: impl FnOnce(&mut Rng) -> T) -> Option<T> {
        if allowed && self.below(4) == 0 {
            None
        } else {
            Some(value(self))
        }
    }

    /// Tags well above the ones the specs use, so they stay unknown to both codecs.
    pub fn unknown_tagged_fields(&mut self) -> TaggedFields {
        let mut fields = TaggedFields::new();
        if self.below(3) == 0 {
            for _ in 0..=self.below(2) {
                let tag = 1000 + self.below(100) as u32;
                fields.insert(tag, self.bytes());
            }
        }
        fields
    }
}
