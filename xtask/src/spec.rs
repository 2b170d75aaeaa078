//! The model of Kafka's JSON message specs, parsed from the files.

use std::path::Path;

use serde_json::Value;

/// A contiguous range of versions; `min > max` means no version at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { min: 1, max: 0 };

    /// Parses "3+", "0-7", "5" or "none".
    pub fn parse(text: &str) -> Result<Versions, String> {
        let text = text.trim();
        if text == "none" {
            return Ok(Versions::NONE);
        }
        let number = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|_| format!("bad version range '{text}'"))
        };
        if let Some(min) = text.strip_suffix('+') {
            return Ok(Versions {
                min: number(min)?,
                max: i16::MAX,
            });
        }
        if let Some((min, max)) = text.split_once('-') {
            return Ok(Versions {
                min: number(min)?,
                max: number(max)?,
            });
        }
        let single = number(text)?;
        Ok(Versions {
            min: single,
            max: single,
        })
    }

    pub fn is_empty(self) -> bool {
        self.min > self.max
    }

    pub fn intersect(self, other: Versions) -> Versions {
        Versions {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        }
    }
}

/// The type of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint16,
    Uint32,
    Float64,
    String,
    Bytes,
    Records,
    Uuid,
    Struct(String),
    Array(Box<FieldType>),
}

impl FieldType {
    fn parse(text: &str) -> Result<FieldType, String> {
        if let Some(element) = text.strip_prefix("[]") {
            return Ok(FieldType::Array(Box::new(FieldType::parse(element)?)));
        }
        Ok(match text {
            "bool" => FieldType::Bool,
            "int8" => FieldType::Int8,
            "int16" => FieldType::Int16,
            "int32" => FieldType::Int32,
            "int64" => FieldType::Int64,
            "uint16" => FieldType::Uint16,
            "uint32" => FieldType::Uint32,
            "float64" => FieldType::Float64,
            "string" => FieldType::String,
            "bytes" => FieldType::Bytes,
            "records" => FieldType::Records,
            "uuid" => FieldType::Uuid,
            name if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => {
                FieldType::Struct(name.to_owned())
            }
            other => return Err(format!("unknown field type '{other}'")),
        })
    }

    /// The struct this type names, directly or as array elements.
    pub fn struct_name(&self) -> Option<&str> {
        match self {
            FieldType::Struct(name) => Some(name),
            FieldType::Array(element) => element.struct_name(),
            _ => None,
        }
    }
}

/// One field of a struct.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub versions: Versions,
    pub nullable_versions: Versions,
    pub tagged_versions: Versions,
    pub tag: Option<u32>,
    pub ignorable: bool,
    /// Overrides the message's flexible versions for this field's encoding.
    pub flexible_versions: Option<Versions>,
    pub default: Option<String>,
    /// Fields of the struct this field defines inline, if any.
    pub fields: Vec<Field>,
    pub map_key: bool,
}

/// A named struct: the message itself, one defined inline by a field, or a common one.
#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
    /// The versions in which the struct appears at all.
    pub versions: Versions,
}

/// What a spec file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecKind {
    Request,
    Response,
    Header,
    Data,
}

/// One parsed spec file.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub kind: SpecKind,
    pub api_key: Option<i16>,
    pub valid_versions: Versions,
    pub flexible_versions: Versions,
    pub deprecated_versions: Option<Versions>,
    pub latest_version_unstable: bool,
    pub fields: Vec<Field>,
    pub common_structs: Vec<StructDef>,
}

/// Removes `//` comments, which Kafka's specs use but JSON does not allow, leaving
/// string contents alone.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &byte) in bytes.iter().enumerate() {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if byte == b'"' {
                in_string = true;
            } else if byte == b'/' && bytes.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn versions_of(object: &Value, key: &str) -> Result<Option<Versions>, String> {
    object
        .get(key)
        .and_then(text_of)
        .map(|t| Versions::parse(&t))
        .transpose()
}

fn parse_fields(value: Option<&Value>, context: &str) -> Result<Vec<Field>, String> {
    let Some(items) = value else {
        return Ok(Vec::new());
    };
    let items = items
        .as_array()
        .ok_or(format!("{context}: 'fields' is not an array"))?;
    items
        .iter()
        .map(|item| parse_field(item, context))
        .collect()
}

fn parse_field(item: &Value, context: &str) -> Result<Field, String> {
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .ok_or(format!("{context}: field without a name"))?
        .to_owned();
    let context = format!("{context}.{name}");
    let ty = FieldType::parse(
        item.get("type")
            .and_then(Value::as_str)
            .ok_or(format!("{context}: no type"))?,
    )
    .map_err(|e| format!("{context}: {e}"))?;
    let versions = versions_of(item, "versions")?.ok_or(format!("{context}: no versions"))?;
    let tagged_versions = versions_of(item, "taggedVersions")?.unwrap_or(Versions::NONE);
    let tag = item
        .get("tag")
        .and_then(text_of)
        .and_then(|t| t.parse::<u32>().ok());
    if !tagged_versions.is_empty() && tag.is_none() {
        return Err(format!("{context}: tagged versions without a tag"));
    }
    Ok(Field {
        ty,
        versions,
        nullable_versions: versions_of(item, "nullableVersions")?.unwrap_or(Versions::NONE),
        tagged_versions,
        tag,
        ignorable: item
            .get("ignorable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        flexible_versions: versions_of(item, "flexibleVersions")?,
        default: item.get("default").and_then(text_of),
        fields: parse_fields(item.get("fields"), &context)?,
        map_key: item.get("mapKey").and_then(Value::as_bool).unwrap_or(false),
        name,
    })
}

/// Reads and parses one spec file.
pub fn parse_file(path: &Path) -> Result<Spec, String> {
    let context = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{context}: {e}"))?;
    let json: Value =
        serde_json::from_str(&strip_comments(&text)).map_err(|e| format!("{context}: {e}"))?;
    let name = json
        .get("name")
        .and_then(Value::as_str)
        .ok_or(format!("{context}: no name"))?
        .to_owned();
    let kind = match json.get("type").and_then(Value::as_str) {
        Some("request") => SpecKind::Request,
        Some("response") => SpecKind::Response,
        Some("header") => SpecKind::Header,
        Some("data") => SpecKind::Data,
        other => return Err(format!("{context}: unknown spec type {other:?}")),
    };
    let valid_versions =
        versions_of(&json, "validVersions")?.ok_or(format!("{context}: no validVersions"))?;
    let mut common_structs = Vec::new();
    if let Some(items) = json.get("commonStructs").and_then(Value::as_array) {
        for item in items {
            let struct_name = item
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{context}: common struct without name"))?;
            common_structs.push(StructDef {
                name: struct_name.to_owned(),
                fields: parse_fields(item.get("fields"), &format!("{context}:{struct_name}"))?,
                versions: versions_of(item, "versions")?.unwrap_or(valid_versions),
            });
        }
    }
    Ok(Spec {
        api_key: json.get("apiKey").and_then(Value::as_i64).map(|k| k as i16),
        valid_versions,
        flexible_versions: versions_of(&json, "flexibleVersions")?
            .ok_or(format!("{context}: no flexibleVersions"))?,
        deprecated_versions: versions_of(&json, "deprecatedVersions")?,
        latest_version_unstable: json
            .get("latestVersionUnstable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        fields: parse_fields(json.get("fields"), &name)?,
        common_structs,
        kind,
        name,
    })
}
