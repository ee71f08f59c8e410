//! Blank lines kept as records for the csv crate, which skips them: there a record's index would
//! no longer be its row once a blank line came before it (the row a person is told, the row the
//! polars readers count).

use std::io::Read;

/// Reads CSV bytes with each blank line (outside quotes) given one empty quoted cell, `""`: the
/// csv crate then yields it as a record of one empty cell, which readers skip as blank.
pub(super) struct KeepBlank<R> {
    inner: R,
    out: Vec<u8>,
    at: usize,
    quoted: bool,
    /// Nothing but a carriage return since the last line break.
    line_start: bool,
}

impl<R: Read> KeepBlank<R> {
    pub(super) fn new(inner: R) -> KeepBlank<R> {
        KeepBlank {
            inner,
            out: Vec::new(),
            at: 0,
            quoted: false,
            line_start: true,
        }
    }
}

impl<R: Read> Read for KeepBlank<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() {
            let mut chunk = [0u8; 64 * 1024];
            let n = self.inner.read(&mut chunk)?;
            self.out.clear();
            self.at = 0;
            for &b in &chunk[..n] {
                match b {
                    b'"' => {
                        self.quoted = !self.quoted;
                        self.line_start = false;
                    }
                    b'\n' if !self.quoted => {
                        if self.line_start {
                            self.out.extend_from_slice(b"\"\"");
                        }
                        self.line_start = true;
                    }
                    b'\r' => {}
                    _ => self.line_start = false,
                }
                self.out.push(b);
            }
        }
        let n = (self.out.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Whether a record has nothing in it (a blank line, or a row of empty cells).
pub fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|c| c.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(KeepBlank::new(text.as_bytes()))
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn a_blank_line_is_a_record_of_one_empty_cell_a_quoted_line_break_is_not() {
        let want = |v: &[&[&str]]| -> Vec<Vec<String>> {
            v.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect()
        };
        assert_eq!(
            rows("a,b\n\n1,2\n\n"),
            want(&[&["a", "b"], &[""], &["1", "2"], &[""]])
        );
        assert_eq!(
            rows("a,b\r\n\r\n1,\"x\n\ny\"\r\n"),
            want(&[&["a", "b"], &[""], &["1", "x\n\ny"]])
        );
    }
}
