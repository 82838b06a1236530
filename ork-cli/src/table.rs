//! Aligned text tables.

use crate::format::Paint;

/// A table: a header and rows of cells, printed with aligned columns.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned right (numbers).
    right: Vec<bool>,
}

impl Table {
    /// A table with these column names; names starting with `>` are
    /// right-aligned (the `>` is not shown).
    pub(crate) fn new(columns: &[&str]) -> Table {
        Table {
            header: columns
                .iter()
                .map(|c| c.trim_start_matches('>').to_owned())
                .collect(),
            right: columns.iter().map(|c| c.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text. Cells may hold ANSI codes; widths ignore them.
    pub(crate) fn render(&self, paint: Paint) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(width(cell));
                }
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String, bold: bool| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(cell));
                let last = i + 1 == cells.len();
                if i > 0 {
                    text.push_str("  ");
                }
                if self.right.get(i).copied().unwrap_or(false) {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if !last {
                        text.push_str(&" ".repeat(pad));
                    }
                }
            }
            if bold {
                text = paint.bold(&text);
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.header, &mut out, true);
        for row in &self.rows {
            line(row, &mut out, false);
        }
        out
    }
}

/// Display width: characters, not counting ANSI escape sequences.
pub(crate) fn width(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        if in_escape {
            if c == 'm' {
                in_escape = false;
            }
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = Table::new(&["NAME", ">N"]);
        t.row(vec!["a".into(), "10".into()]);
        t.row(vec!["\x1b[32mlonger\x1b[0m".into(), "2".into()]);
        let text = t.render(Paint::plain());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME     N");
        assert_eq!(lines[1], "a       10");
        assert!(lines[2].ends_with("longer\x1b[0m   2"));
    }
}
