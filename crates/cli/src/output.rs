//! How client commands print what they found: aligned tables for people, one JSON
//! document for scripts.

use std::io::Write;

use serde::Serialize;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// What a command prints: a report that knows its text form and serializes to JSON.
pub trait Report: Serialize {
    /// The text form, ending with a newline unless empty.
    fn text(&self) -> String;
}

/// Prints `report` on stdout in `format`. A closed pipe (`fjord ... | head`) is not an
/// error: the reader has what it wanted.
pub fn print(format: Format, report: &impl Report) -> anyhow::Result<()> {
    let text = match format {
        Format::Text => report.text(),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(report)?;
            json.push('\n');
            json
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// `headers` and `rows` as columns separated by two spaces, each as wide as its widest
/// cell; no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        assert_eq!(row.len(), headers.len(), "a row has a cell per column");
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A number, or "-" for none, as Kafka's tools print a missing offset.
pub fn or_dash(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_trailing_spaces() {
        let rows = vec![
            vec!["orders".to_owned(), "0".to_owned(), "12".to_owned()],
            vec!["payments-eu".to_owned(), "10".to_owned(), String::new()],
        ];
        assert_eq!(
            table(&["TOPIC", "PARTITION", "LAG"], &rows),
            "TOPIC        PARTITION  LAG\n\
             orders       0          12\n\
             payments-eu  10\n"
        );
    }

    #[test]
    fn a_table_without_rows_is_its_header() {
        assert_eq!(table(&["GROUP", "STATE"], &[]), "GROUP  STATE\n");
    }

    #[test]
    fn missing_numbers_are_dashes() {
        assert_eq!(or_dash(None), "-");
        assert_eq!(or_dash(Some(-3)), "-3");
    }
}
