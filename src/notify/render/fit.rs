//! A text table laid out to a width, for a terminal: headers on two lines (a label over its
//! unit), the columns a narrow terminal cannot hold left out in a set order, and the one column
//! that may be cut (a unit's name) cut with "…". Widths count characters: the text is NFC, where
//! a Vietnamese letter is one character and one column.

/// How a column gives way when the table is wider than the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Give {
    /// Always shown whole (a rank, an id, a rate, a status).
    Never,
    /// Cut with "…" down to `min` characters before any column is left out.
    Cut { min: usize },
    /// Left out when the table does not fit; the lowest `order` goes first.
    Leave { order: u8 },
}

pub struct Column {
    /// One line, or two: the label over its unit ("Kế hoạch" over "(tỷ)").
    pub header: Vec<String>,
    pub right: bool,
    pub give: Give,
}

/// The laid-out table and the headers of the columns it left out (to say so under it).
#[derive(Debug, PartialEq, Eq)]
pub struct Fitted {
    pub text: String,
    pub left_out: Vec<String>,
}

const GAP: &str = "  ";

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Lays `rows` out under `columns` in at most `width` characters a line (`None`: every column,
/// nothing cut). When even the columns that never give way do not fit, the table is as narrow as
/// it can be and the terminal wraps it: nothing is ever dropped from a cell but a name's tail.
pub fn fit_table(columns: &[Column], rows: &[Vec<String>], width: Option<usize>) -> Fitted {
    let natural: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let head = c.header.iter().map(|h| chars(h)).max().unwrap_or(0);
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| chars(c)))
                .fold(head, usize::max)
        })
        .collect();
    let least = |i: usize| match columns[i].give {
        Give::Cut { min } => natural[i].min(min),
        _ => natural[i],
    };
    let mut shown: Vec<usize> = (0..columns.len()).collect();
    if let Some(width) = width {
        loop {
            let needed = shown.iter().map(|&i| least(i)).sum::<usize>()
                + GAP.len() * shown.len().saturating_sub(1);
            if needed <= width {
                break;
            }
            let next = shown
                .iter()
                .enumerate()
                .filter_map(|(at, &i)| match columns[i].give {
                    Give::Leave { order } => Some((order, at)),
                    _ => None,
                })
                .min();
            match next {
                Some((_, at)) => {
                    shown.remove(at);
                }
                None => break,
            }
        }
    }
    // What is left after the columns shown whole goes to the columns that may be cut, in order.
    let mut widths: Vec<usize> = shown.iter().map(|&i| natural[i]).collect();
    if let Some(width) = width {
        let fixed: usize = shown
            .iter()
            .zip(&widths)
            .filter(|(&i, _)| !matches!(columns[i].give, Give::Cut { .. }))
            .map(|(_, w)| w)
            .sum::<usize>()
            + GAP.len() * shown.len().saturating_sub(1);
        let mut room = width.saturating_sub(fixed);
        for (at, &i) in shown.iter().enumerate() {
            if matches!(columns[i].give, Give::Cut { .. }) {
                let w = natural[i].min(room.max(least(i)));
                widths[at] = w;
                room = room.saturating_sub(w);
            }
        }
    }
    let lines = shown
        .iter()
        .map(|&i| columns[i].header.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(shown.iter().zip(&widths))
            .map(|(cell, (&i, &w))| {
                let cell = cut(cell, w);
                let pad = " ".repeat(w - chars(&cell));
                if columns[i].right {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect();
        format!("{}\n", parts.join(GAP).trim_end())
    };
    let mut text = String::new();
    for l in 0..lines {
        // A one-line header stands on the last line, beside the units of the others.
        let cells = shown
            .iter()
            .map(|&i| {
                let h = &columns[i].header;
                let skip = lines - h.len();
                if l < skip {
                    ""
                } else {
                    h[l - skip].as_str()
                }
            })
            .collect();
        text.push_str(&line(cells));
    }
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    text.push_str(&format!("{}\n", rule.join(GAP)));
    for r in rows {
        text.push_str(&line(
            shown
                .iter()
                .map(|&i| r.get(i).map_or("", String::as_str))
                .collect(),
        ));
    }
    let left_out = (0..columns.len())
        .filter(|i| !shown.contains(i))
        .map(|i| columns[i].header.join(" "))
        .collect();
    Fitted { text, left_out }
}

/// `s` in at most `w` characters: cut with "…" when longer.
fn cut(s: &str, w: usize) -> String {
    if chars(s) <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(w - 1).collect();
        out.truncate(out.trim_end().len());
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(header: &[&str], right: bool, give: Give) -> Column {
        Column {
            header: header.iter().map(|s| s.to_string()).collect(),
            right,
            give,
        }
    }

    fn table() -> (Vec<Column>, Vec<Vec<String>>) {
        let columns = vec![
            col(&["Mã"], false, Give::Never),
            col(&["Đơn vị"], false, Give::Cut { min: 8 }),
            col(&["Kế hoạch", "(tỷ)"], true, Give::Leave { order: 2 }),
            col(&["Dự báo", "31/12"], true, Give::Leave { order: 1 }),
            col(&["Tỷ lệ"], true, Give::Never),
        ];
        let rows = [
            [
                "STC",
                "Sở Tài chính tỉnh Sơn La",
                "51,402",
                "100,0",
                "87,61",
            ],
            ["X-MUONGLA", "UBND xã Mường La", "9,000", "98,1", "44,00"],
        ]
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
        (columns, rows)
    }

    fn widest(text: &str) -> usize {
        text.lines().map(chars).max().unwrap_or(0)
    }

    #[test]
    fn unlimited_shows_everything_whole() {
        let (c, r) = table();
        let f = fit_table(&c, &r, None);
        assert!(f.left_out.is_empty());
        assert!(f.text.contains("Sở Tài chính tỉnh Sơn La"), "{}", f.text);
        // A one-line header on the header's last line; numbers and their headers to the right.
        let lines: Vec<&str> = f.text.lines().collect();
        assert_eq!(lines[0], format!("{}Kế hoạch  Dự báo", " ".repeat(37)));
        assert_eq!(
            lines[1],
            format!("Mã         Đơn vị{}    (tỷ)   31/12  Tỷ lệ", " ".repeat(20))
        );
        assert_eq!(
            lines[2],
            "---------  ------------------------  --------  ------  -----"
        );
        assert_eq!(
            lines[4],
            format!(
                "X-MUONGLA  UBND xã Mường La{}   9,000    98,1  44,00",
                " ".repeat(10)
            )
        );
    }

    #[test]
    fn a_narrow_width_cuts_the_name_then_leaves_columns_out_in_order() {
        let (c, r) = table();
        let full = widest(&fit_table(&c, &r, None).text);
        // Room for everything but part of the name.
        let f = fit_table(&c, &r, Some(full - 5));
        assert!(f.left_out.is_empty());
        assert!(f.text.contains("Sở Tài chính tỉnh…"), "{}", f.text);
        assert!(widest(&f.text) <= full - 5);
        // Narrower: the projection goes first, then the plan; ids and rates stay whole.
        let f = fit_table(&c, &r, Some(36));
        assert_eq!(f.left_out, vec!["Dự báo 31/12".to_string()]);
        assert!(widest(&f.text) <= 36, "{}", f.text);
        let f = fit_table(&c, &r, Some(28));
        assert_eq!(f.left_out.len(), 2);
        assert!(widest(&f.text) <= 28, "{}", f.text);
        assert!(f.text.contains("X-MUONGLA") && f.text.contains("44,00"));
        // Narrower than what never gives way: as narrow as it can be, ids and rates whole.
        let f = fit_table(&c, &r, Some(5));
        assert!(f.text.contains("X-MUONGLA") && f.text.contains("87,61"));
        assert!(
            f.text.contains("Sở Tài…") && f.text.contains("87,61"),
            "{}",
            f.text
        );
    }

    #[test]
    fn cut_never_splits_inside_a_character() {
        assert_eq!(cut("Đắk Lắk", 4), "Đắk…");
        assert_eq!(cut("Đắk Lắk", 7), "Đắk Lắk");
        assert_eq!(cut("ab", 0), "");
    }
}
