//! The keys a file read with serde may hold, read off the type it is read into: serde's derive
//! hands a struct's field names to the deserializer (`deserialize_struct`), so a tracer that
//! answers each struct with one field of a route, and stops at the route's end, learns what is
//! there — a table (its fields) or a value — one route at a time. `check` suggests the nearest
//! key for one it does not know; `keys` lists them for the reference.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

/// Every route from the top of `T` to a value, dotted.
pub fn leaves<T: for<'de> Deserialize<'de>>() -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut routes: Vec<Vec<&'static str>> = vec![Vec::new()];
    while let Some(route) = routes.pop() {
        let found = RefCell::new(None);
        // It always stops: what it found is all that is wanted.
        let _ = T::deserialize(Tracer {
            route: &route,
            depth: 0,
            found: &found,
        });
        match found.into_inner() {
            Some(Found::Table(fields)) => {
                for f in fields {
                    let mut next = route.clone();
                    next.push(f);
                    routes.push(next);
                }
            }
            Some(Found::Value) | None => {
                if !route.is_empty() {
                    out.insert(route.join("."));
                }
            }
        }
    }
    out.into_iter().collect()
}

enum Found {
    Table(&'static [&'static str]),
    Value,
}

/// Ends every trace; never seen outside this module.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("traced")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

#[derive(Clone, Copy)]
struct Tracer<'a> {
    route: &'a [&'static str],
    depth: usize,
    found: &'a RefCell<Option<Found>>,
}

impl Tracer<'_> {
    fn at_end(&self) -> bool {
        self.depth >= self.route.len()
    }

    fn value<T>(self) -> Result<T, Stop> {
        if self.at_end() {
            *self.found.borrow_mut() = Some(Found::Value);
        }
        Err(Stop)
    }
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        self.value()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        if self.at_end() {
            *self.found.borrow_mut() = Some(Found::Table(fields));
            return Err(Stop);
        }
        visitor.visit_map(OneField {
            key: Some(self.route[self.depth]),
            value: Tracer {
                depth: self.depth + 1,
                ..self
            },
        })
    }

    // An optional value, a list of them and a newtype are what they hold.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_seq(OneElement(Some(self)))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple tuple_struct map enum identifier ignored_any
    }
}

struct OneField<'a> {
    key: Option<&'static str>,
    value: Tracer<'a>,
}

impl<'de> MapAccess<'de> for OneField<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(k) => seed.deserialize(k.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Stop> {
        seed.deserialize(self.value)
    }
}

struct OneElement<'a>(Option<Tracer<'a>>);

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Stop;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Stop> {
        match self.0.take() {
            Some(t) => seed.deserialize(t).map(Some),
            None => Ok(None),
        }
    }
}

/// The key of `known` nearest to `unknown` (a few letters apart at most), to suggest for a
/// misspelling; an index into an array of tables ("rule.milestones.0.dte") is not part of a key.
pub fn nearest<'a>(unknown: &str, known: &'a [String]) -> Option<&'a str> {
    let unknown: String = unknown
        .split('.')
        .filter(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(".");
    known
        .iter()
        .map(|k| (distance(&unknown, k), k))
        .filter(|(d, _)| *d <= 2.max(unknown.len() / 6))
        .min()
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        date: String,
        pct: f64,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        every: Option<Vec<Inner>>,
        nested: Option<Outer2>,
        free: std::collections::BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Outer2 {
        #[serde(default)]
        depth: u32,
    }

    #[test]
    fn the_routes_to_every_value_are_found() {
        assert_eq!(
            leaves::<Outer>(),
            ["every.date", "every.pct", "free", "name", "nested.depth"]
        );
    }

    #[test]
    fn a_misspelt_key_gets_the_nearest_real_one() {
        let known = leaves::<Outer>();
        assert_eq!(nearest("every.0.dte", &known), Some("every.date"));
        assert_eq!(nearest("nested.dpeth", &known), Some("nested.depth"));
        assert_eq!(nearest("completely_different", &known), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
