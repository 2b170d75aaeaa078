//! How `fjord consume` prints a message: kcat-like templates and JSON lines.

use std::io::Write;

use rdkafka::message::{Headers, Message};
use serde::Serialize;
use serde_json::Value;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
}

/// A parsed `--format` template such as `%p:%o %k=%v\t%h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

impl Template {
    /// Parses `text`; an unknown field or escape is an error, not printed as it is, so a
    /// typo shows at once.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let piece = match chars.next() {
                        Some('t') => Piece::Topic,
                        Some('p') => Piece::Partition,
                        Some('o') => Piece::Offset,
                        Some('k') => Piece::Key,
                        Some('v') => Piece::Value,
                        Some('T') => Piece::Timestamp,
                        Some('h') => Piece::Headers,
                        Some('%') => {
                            literal.push(b'%');
                            continue;
                        }
                        Some(other) => {
                            return Err(format!(
                                "'%{other}' in '{text}' is not a field; the fields are %t %p %o \
                                 %k %v %T %h and %% for a percent sign"
                            ));
                        }
                        None => return Err(format!("'{text}' ends with a lone '%'")),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                '\\' => match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('\\') => literal.push(b'\\'),
                    Some(other) => {
                        return Err(format!(
                            "'\\{other}' in '{text}' is not an escape; the escapes are \\n \\t \\\\"
                        ));
                    }
                    None => return Err(format!("'{text}' ends with a lone '\\'")),
                },
                c => {
                    let mut buffer = [0; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template(pieces))
    }

    /// Writes `message` as the template says; keys and values are written as they are,
    /// bytes included.
    pub fn write(&self, message: &impl Message, out: &mut impl Write) -> std::io::Result<()> {
        for piece in &self.0 {
            match piece {
                Piece::Literal(bytes) => out.write_all(bytes)?,
                Piece::Topic => out.write_all(message.topic().as_bytes())?,
                Piece::Partition => write!(out, "{}", message.partition())?,
                Piece::Offset => write!(out, "{}", message.offset())?,
                Piece::Key => out.write_all(message.key().unwrap_or_default())?,
                Piece::Value => out.write_all(message.payload().unwrap_or_default())?,
                Piece::Timestamp => {
                    write!(out, "{}", message.timestamp().to_millis().unwrap_or(-1))?
                }
                Piece::Headers => {
                    if let Some(headers) = message.headers() {
                        for (i, header) in headers.iter().enumerate() {
                            if i > 0 {
                                out.write_all(b",")?;
                            }
                            out.write_all(header.key.as_bytes())?;
                            if let Some(value) = header.value {
                                out.write_all(b"=")?;
                                out.write_all(value)?;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// One message as a JSON line.
#[derive(Debug, Serialize)]
pub struct JsonLine {
    topic: String,
    partition: i32,
    offset: i64,
    /// Milliseconds since the epoch, `None` when the message has no timestamp.
    timestamp_ms: Option<i64>,
    key: Value,
    value: Value,
    headers: Vec<JsonHeader>,
}

/// One header of a JSON line; a header may repeat, so they are a list, not an object.
#[derive(Debug, Serialize)]
pub struct JsonHeader {
    key: String,
    value: Value,
}

/// Bytes in JSON: a string when they are UTF-8, else `{"base64": "..."}`, so that no
/// byte is lost; null when absent.
fn bytes_json(bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => serde_json::json!({ "base64": base64(bytes) }),
        },
    }
}

/// `message` as a JSON line.
pub fn json_line(message: &impl Message) -> JsonLine {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| JsonHeader {
                    key: header.key.to_owned(),
                    value: bytes_json(header.value),
                })
                .collect()
        })
        .unwrap_or_default();
    JsonLine {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        key: bytes_json(message.key()),
        value: bytes_json(message.payload()),
        headers,
    }
}

/// Standard base64 with padding (RFC 4648), to keep a dependency out for twenty lines.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    fn message() -> OwnedMessage {
        OwnedMessage::new(
            Some(b"v1".to_vec()),
            Some(b"k1".to_vec()),
            "orders".to_owned(),
            Timestamp::CreateTime(1_700_000_000_000),
            2,
            17,
            Some(
                OwnedHeaders::new()
                    .insert(Header {
                        key: "a",
                        value: Some("1"),
                    })
                    .insert(Header {
                        key: "b",
                        value: None::<&[u8]>,
                    }),
            ),
        )
    }

    fn render(template: &str) -> String {
        let mut out = Vec::new();
        Template::parse(template)
            .expect("a valid template")
            .write(&message(), &mut out)
            .expect("writing to a Vec");
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn every_field_and_escape() {
        assert_eq!(
            render("%t %p %o %k %v %T %h 100%%\\t|\\n\\\\"),
            "orders 2 17 k1 v1 1700000000000 a=1,b 100%\t|\n\\"
        );
    }

    #[test]
    fn unknown_fields_and_escapes_are_refused() {
        assert!(Template::parse("%q").is_err());
        assert!(Template::parse("%").is_err());
        assert!(Template::parse("\\x").is_err());
        assert!(Template::parse("\\").is_err());
    }

    #[test]
    fn json_keeps_bytes_that_are_not_utf8() {
        let line = serde_json::to_value(json_line(&message())).expect("serializable");
        assert_eq!(line["key"], "k1");
        assert_eq!(line["headers"][1]["value"], Value::Null);
        assert_eq!(
            bytes_json(Some(&[0xff, 0, 1])),
            serde_json::json!({"base64": "/wAB"})
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
