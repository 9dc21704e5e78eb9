//! [`StatTable`], the kernel statistics tables of protocol minor 2, with their field names
//! shared process-wide.
//!
//! Why shared: a real host's sample carries about 120 such fields (`meminfo` alone ~55),
//! and a server keeps every host's latest sample. With a `String` per name that was about
//! 5 KiB per host of names every host repeats, over a third of what a decoded real sample
//! holds (12 KiB measured). Names come from a small vocabulary (node_exporter's field
//! names), so each is kept once and every table points at it.
//!
//! The set of shared names is bounded ([`MAX_SHARED_NAMES`] names, each one a valid field
//! name of at most 64 bytes): names come from the network, and a peer inventing new ones
//! must not grow it without end. Past the bound, or invalid (the sample is then refused),
//! a name gets an allocation of its own, as before.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::de::{Error, MapAccess, Visitor};
#[cfg(test)]
use serde::Serialize;
use serde::{Deserialize, Deserializer, Serializer};

/// A kernel statistics table (minor 2): field name to value, sorted by name. Names are
/// node_exporter's metric name suffixes, so they are also valid in a metric name.
pub type StatTable = BTreeMap<Arc<str>, u64>;

/// Most distinct names kept shared: several times the fields Linux has (`meminfo`,
/// `vmstat`, `netstat` and `sockstat` together hold under 1,000), at most 64 bytes each.
pub const MAX_SHARED_NAMES: usize = 4096;

/// The shared names, locked. A panic while it was held (an allocation failing in
/// `intern`) leaves the set consistent, with or without the name, so a poisoned lock is
/// used as it is.
fn names() -> MutexGuard<'static, HashSet<Arc<str>>> {
    static NAMES: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// `name` as a table key: the shared copy when there is one or room for one, otherwise a
/// copy of its own.
pub fn stat_name(name: &str) -> Arc<str> {
    intern(&mut names(), name)
}

fn intern(shared: &mut HashSet<Arc<str>>, name: &str) -> Arc<str> {
    if let Some(known) = shared.get(name) {
        return known.clone();
    }
    let name: Arc<str> = Arc::from(name);
    // Only names validation will accept: a frame may carry a 60 KB "name" that its sample
    // is then refused for, and the set must not keep it.
    if shared.len() < MAX_SHARED_NAMES && crate::is_stat_name(&name) {
        shared.insert(name.clone());
    }
    name
}

/// Writes a table as the JSON object it is on the wire.
pub(crate) fn serialize<S: Serializer>(
    table: &StatTable,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(table.iter().map(|(k, v)| (&**k, v)))
}

/// Reads a table, sharing its names; one lock for the whole table.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<StatTable, D::Error> {
    deserializer.deserialize_map(TableVisitor)
}

struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = StatTable;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of field names to unsigned integers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StatTable, A::Error> {
        // Read first, share after: the lock is not held while the parser works, and a
        // table that fails to parse shares nothing. Bounded like the frame it came in.
        let mut entries: Vec<(Key<'de>, u64)> = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        // Collected, not inserted one by one: an edge writes its fields sorted, and a
        // BTreeMap built from sorted pairs is built in one pass instead of a search per
        // field (a repeated name keeps its last value, as `insert` would).
        let mut shared = names();
        Ok(entries
            .into_iter()
            .map(|(name, value)| (intern(&mut shared, &name.0), value))
            .collect())
    }
}

/// A field name as the parser has it: borrowed from the frame's text when it holds no
/// escapes, so a known name costs no allocation at all.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

/// Makes [`serialize`] usable where serde wants a value, in tests.
#[cfg(test)]
struct AsWire<'a>(&'a StatTable);

#[cfg(test)]
impl Serialize for AsWire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> StatTable {
        deserialize(&mut serde_json::Deserializer::from_str(json)).unwrap()
    }

    #[test]
    fn names_are_shared_between_tables_and_the_wire_form_is_unchanged() {
        let json = r#"{"MemFree_bytes":1,"Active_anon_bytes":2}"#;
        let (a, b) = (read(json), read(json));
        let (ka, kb) = (a.keys().next().unwrap(), b.keys().next().unwrap());
        assert_eq!(&**ka, "Active_anon_bytes", "sorted by name");
        assert!(Arc::ptr_eq(ka, kb), "one copy of each name");
        assert!(Arc::ptr_eq(ka, &stat_name("Active_anon_bytes")));
        let back = serde_json::to_string(&AsWire(&a)).unwrap();
        assert_eq!(back, r#"{"Active_anon_bytes":2,"MemFree_bytes":1}"#);
    }

    #[test]
    fn past_the_bound_names_are_still_accepted_but_not_kept() {
        let mut shared = HashSet::new();
        for i in 0..MAX_SHARED_NAMES {
            intern(&mut shared, &format!("n{i}"));
        }
        let extra = intern(&mut shared, "one_too_many");
        assert_eq!(&*extra, "one_too_many");
        assert_eq!(shared.len(), MAX_SHARED_NAMES);
        assert!(!Arc::ptr_eq(&extra, &intern(&mut shared, "one_too_many")));
    }

    #[test]
    fn names_validation_refuses_are_never_kept() {
        let mut shared = HashSet::new();
        let long = "a".repeat(60_000);
        for bad in [long.as_str(), "has space", "9starts_with_digit", ""] {
            assert_eq!(&*intern(&mut shared, bad), bad);
        }
        assert!(shared.is_empty());
    }

    #[test]
    fn unsorted_input_is_sorted_and_a_repeated_name_keeps_its_last_value() {
        let table = read(r#"{"b":1,"a":2,"b":3}"#);
        let pairs: Vec<(&str, u64)> = table.iter().map(|(k, v)| (&**k, *v)).collect();
        assert_eq!(pairs, [("a", 2), ("b", 3)]);
    }

    #[test]
    fn bad_values_and_shapes_are_refused() {
        for bad in [r#"{"a":-1}"#, r#"{"a":"1"}"#, r#"[1]"#, r#"{"a":1.5}"#] {
            let got: Result<StatTable, _> =
                deserialize(&mut serde_json::Deserializer::from_str(bad));
            assert!(got.is_err(), "{bad}");
        }
    }
}
