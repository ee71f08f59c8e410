//! A cube's cells as they are kept and asked: per group of cells (one unit, plan year, layer and
//! capital source) its key and where its cells end; per cell its day, and the sum and rows of its
//! group's cells up to and including it. A query's sum over a range of days is two look-ups in
//! these arrays, and a stored cube is loaded by copying them column by column — no cell is
//! rebuilt and no index made on load. (A daily run spent a third of its time building cells of
//! 48 bytes and an index of running sums beside them; held this way a cell is 16 bytes.)

use serde::de::{Deserializer, Error, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::ops::Range;

/// What a group's cells share: the unit (by index), the plan year, the layer and capital source
/// (by label index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub unit: u32,
    pub year: i32,
    pub layer: u32,
    pub capital: u32,
}

/// One cell: the rows of one unit with the same plan year, day, layer and capital source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cell {
    pub unit: u32,
    pub year: i32,
    pub layer: u32,
    pub capital: u32,
    /// Days since 1970-01-01: the payment's date, or the plan change's effective date (the
    /// cube's `NONE`: in force from the start).
    pub day: i32,
    pub sum: i128,
    pub rows: u64,
}

impl Cell {
    pub(super) fn key(&self) -> (u32, i32, u32, u32, i32) {
        (self.unit, self.year, self.layer, self.capital, self.day)
    }

    fn group(&self) -> Key {
        Key {
            unit: self.unit,
            year: self.year,
            layer: self.layer,
            capital: self.capital,
        }
    }
}

/// The cells, sorted by key and day, each (key, day) once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cells {
    keys: Vec<Key>,
    /// Where each group's cells end; it starts where the one before ends.
    ends: Vec<u32>,
    days: Vec<i32>,
    running: Running,
}

/// The running sums and rows of each group: in i64 and u32 when every one fits (any real
/// source: a unit's total within 9.2 × 10¹⁸ đồng), else in i128 and u64.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Running {
    Narrow { sums: Vec<i64>, rows: Vec<u32> },
    Wide { sums: Vec<i128>, rows: Vec<u64> },
}

impl Default for Running {
    fn default() -> Running {
        Running::Narrow {
            sums: Vec::new(),
            rows: Vec::new(),
        }
    }
}

impl Running {
    fn at(&self, i: usize) -> (i128, u64) {
        match self {
            Running::Narrow { sums, rows } => (i128::from(sums[i]), u64::from(rows[i])),
            Running::Wide { sums, rows } => (sums[i], rows[i]),
        }
    }
}

impl Cells {
    /// The cells of `sorted` (sorted by key and day, each once); None when a group's sum leaves
    /// i128 or there are more cells than an index of 32 bits counts.
    pub fn of(sorted: &[Cell]) -> Option<Cells> {
        u32::try_from(sorted.len()).ok()?;
        let mut keys = Vec::new();
        let mut ends = Vec::new();
        let mut days = Vec::with_capacity(sorted.len());
        let mut sums: Vec<i128> = Vec::with_capacity(sorted.len());
        let mut rows: Vec<u64> = Vec::with_capacity(sorted.len());
        for (i, c) in sorted.iter().enumerate() {
            let key = c.group();
            let first = keys.last() != Some(&key);
            if first {
                if i > 0 {
                    ends.push(i as u32);
                }
                keys.push(key);
            }
            let (before, counted) = match first {
                true => (0, 0),
                false => (sums[i - 1], rows[i - 1]),
            };
            days.push(c.day);
            sums.push(before.checked_add(c.sum)?);
            rows.push(counted.checked_add(c.rows)?);
        }
        if !sorted.is_empty() {
            ends.push(sorted.len() as u32);
        }
        let narrow = sums.iter().all(|&s| i64::try_from(s).is_ok())
            && rows.iter().all(|&r| u32::try_from(r).is_ok());
        let running = match narrow {
            true => Running::Narrow {
                sums: sums.iter().map(|&s| s as i64).collect(),
                rows: rows.iter().map(|&r| r as u32).collect(),
            },
            false => Running::Wide { sums, rows },
        };
        Some(Cells {
            keys,
            ends,
            days,
            running,
        })
    }

    fn len(&self) -> usize {
        self.days.len()
    }

    /// The cells one by one, as [`Cells::of`] was given them.
    pub fn to_vec(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(self.len());
        for (key, range) in self.groups() {
            for i in range.clone() {
                let (sum, rows) = self.between(range.start, i, i + 1);
                out.push(Cell {
                    unit: key.unit,
                    year: key.year,
                    layer: key.layer,
                    capital: key.capital,
                    day: self.days[i],
                    sum,
                    rows,
                });
            }
        }
        out
    }

    /// Whether each group's running sums can be told apart again: its rows grow with every cell
    /// (each counts at least one) and each cell's sum is within i128. Checked when a stored cube
    /// is read, so that no file, however made, has [`Cells::between`] overflow.
    fn holds_together(&self) -> bool {
        self.groups().all(|(_, range)| {
            range.clone().skip(1).all(|i| {
                let (before, upto) = (self.running.at(i - 1), self.running.at(i));
                upto.1 > before.1 && upto.0.checked_sub(before.0).is_some()
            }) && self.running.at(range.start).1 > 0
        })
    }

    /// Each group's key.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.keys.iter().copied()
    }

    /// Each group's key and the indices of its cells.
    pub fn groups(&self) -> impl Iterator<Item = (Key, Range<usize>)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        self.keys
            .iter()
            .zip(starts.zip(self.ends.iter().copied()))
            .map(|(&k, (s, e))| (k, s as usize..e as usize))
    }

    /// Each cell's day.
    pub fn days(&self) -> &[i32] {
        &self.days
    }

    /// The sum and rows of the cells `from..to` of the group whose cells start at `start`.
    pub fn between(&self, start: usize, from: usize, to: usize) -> (i128, u64) {
        let upto = self.running.at(to - 1);
        match from > start {
            false => upto,
            true => {
                let before = self.running.at(from - 1);
                (upto.0 - before.0, upto.1 - before.1)
            }
        }
    }
}

/// Bytes written as one string of bytes (serde writes `[u8]` as a sequence of numbers).
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

/// Bytes read in place when the format lends them, else copied.
struct Raw<'a>(Cow<'a, [u8]>);

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Lent;
        impl<'de> Visitor<'de> for Lent {
            type Value = Raw<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the cells' bytes")
            }
            fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Raw<'de>, E> {
                Ok(Raw(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Raw<'de>, E> {
                Ok(Raw(Cow::Owned(v.to_vec())))
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Raw<'de>, E> {
                Ok(Raw(Cow::Owned(v)))
            }
        }
        d.deserialize_bytes(Lent)
    }
}

/// A group as stored: its key and how many cells it has.
type Stored = (u32, i32, u32, u32, u32);

fn le_bytes<const N: usize, T: Copy>(values: &[T], bytes: impl Fn(T) -> [u8; N]) -> Bytes {
    let mut out = Vec::with_capacity(values.len() * N);
    for &v in values {
        out.extend_from_slice(&bytes(v));
    }
    Bytes(out)
}

/// The values of `raw`, `N` bytes each; None when it is not `count` of them.
fn from_le<const N: usize, T>(
    raw: &[u8],
    count: usize,
    value: impl Fn([u8; N]) -> T,
) -> Option<Vec<T>> {
    (raw.len() == count.checked_mul(N)?).then(|| {
        raw.chunks_exact(N)
            .map(|b| value(b.try_into().unwrap_or([0; N])))
            .collect()
    })
}

impl Serialize for Cells {
    /// The groups, then each column in little-endian bytes: read back by copying.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let groups: Vec<Stored> = self
            .groups()
            .map(|(k, r)| (k.unit, k.year, k.layer, k.capital, r.len() as u32))
            .collect();
        let days = le_bytes(&self.days, i32::to_le_bytes);
        let (wide, sums, rows) = match &self.running {
            Running::Narrow { sums, rows } => (
                false,
                le_bytes(sums, i64::to_le_bytes),
                le_bytes(rows, u32::to_le_bytes),
            ),
            Running::Wide { sums, rows } => (
                true,
                le_bytes(sums, i128::to_le_bytes),
                le_bytes(rows, u64::to_le_bytes),
            ),
        };
        (groups, wide, days, sums, rows).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Cells {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cells, D::Error> {
        type Parts<'a> = (Vec<Stored>, bool, Raw<'a>, Raw<'a>, Raw<'a>);
        let (groups, wide, days, sums, rows): Parts<'de> = Deserialize::deserialize(d)?;
        let bad = || D::Error::custom("the cells' bytes do not match their groups");
        let mut keys = Vec::with_capacity(groups.len());
        let mut ends = Vec::with_capacity(groups.len());
        let mut end = 0u32;
        for &(unit, year, layer, capital, n) in &groups {
            end = end.checked_add(n).filter(|_| n > 0).ok_or_else(bad)?;
            keys.push(Key {
                unit,
                year,
                layer,
                capital,
            });
            ends.push(end);
        }
        let n = end as usize;
        let days = from_le(&days.0, n, i32::from_le_bytes).ok_or_else(bad)?;
        let running = match wide {
            false => Running::Narrow {
                sums: from_le(&sums.0, n, i64::from_le_bytes).ok_or_else(bad)?,
                rows: from_le(&rows.0, n, u32::from_le_bytes).ok_or_else(bad)?,
            },
            true => Running::Wide {
                sums: from_le(&sums.0, n, i128::from_le_bytes).ok_or_else(bad)?,
                rows: from_le(&rows.0, n, u64::from_le_bytes).ok_or_else(bad)?,
            },
        };
        let cells = Cells {
            keys,
            ends,
            days,
            running,
        };
        match cells.holds_together() {
            true => Ok(cells),
            false => Err(D::Error::custom("the cells' running sums do not add up")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(n: u32) -> Vec<Cell> {
        (0..n)
            .map(|i| Cell {
                unit: i / 1000,
                year: 2026,
                layer: u32::MAX,
                capital: u32::MAX,
                day: (i % 1000) as i32,
                sum: i128::from(i) * 1_000_000_007 - 5,
                rows: u64::from(i % 13 + 1),
            })
            .collect()
    }

    #[test]
    fn cells_come_back_as_they_were_written() {
        let narrow = cells(40_000);
        let mut wide = narrow.clone();
        wide[123].sum = i128::from(i64::MAX) * 3;
        wide[124].rows = u64::from(u32::MAX) + 1;
        for given in [narrow, wide, Vec::new()] {
            let held = Cells::of(&given).unwrap();
            assert_eq!(held.to_vec(), given);
            let bytes = postcard::to_allocvec(&held).unwrap();
            let back: Cells = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, held);
            assert_eq!(back.to_vec(), given);
        }
        // Bytes that do not match their groups are refused, never read past.
        let bytes = postcard::to_allocvec(&Cells::of(&cells(3)).unwrap()).unwrap();
        assert!(postcard::from_bytes::<Cells>(&bytes[..bytes.len() - 1]).is_err());
        // Running sums that do not add up (rows that fall, a sum beyond i128) are refused too:
        // no stored file makes a difference of them overflow.
        let key = cells(1)[0].group();
        for running in [
            Running::Narrow {
                sums: vec![5, 3],
                rows: vec![2, 1],
            },
            Running::Narrow {
                sums: vec![5, 3],
                rows: vec![0, 1],
            },
            Running::Wide {
                sums: vec![i128::MIN, i128::MAX],
                rows: vec![1, 2],
            },
        ] {
            let odd = Cells {
                keys: vec![key],
                ends: vec![2],
                days: vec![1, 2],
                running,
            };
            let bytes = postcard::to_allocvec(&odd).unwrap();
            assert!(postcard::from_bytes::<Cells>(&bytes).is_err(), "{odd:?}");
        }
        // A narrow cube takes 16 bytes a cell.
        let bytes = postcard::to_allocvec(&Cells::of(&cells(40_000)).unwrap()).unwrap();
        assert!(bytes.len() < 40_000 * 16 + 40 * 24, "{} bytes", bytes.len());
    }

    #[test]
    fn a_range_of_days_is_summed_from_the_running_sums() {
        let given = cells(5_000);
        let held = Cells::of(&given).unwrap();
        for (key, range) in held.groups() {
            let (start, end) = (range.start, range.end);
            for (from, to) in [(start, end), (start + 1, end), (start + 10, start + 11)] {
                let want = given[from..to]
                    .iter()
                    .inspect(|c| assert_eq!(c.group(), key))
                    .fold((0i128, 0u64), |(s, r), c| (s + c.sum, r + c.rows));
                assert_eq!(held.between(start, from, to), want);
            }
        }
        // A sum a group cannot hold: no cells.
        let mut too_much = cells(2);
        too_much[0].sum = i128::MAX;
        too_much[1].sum = 1;
        assert!(Cells::of(&too_much).is_none());
    }
}
