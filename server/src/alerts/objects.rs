//! `Objects`: a rule's per-object state on one host (filesystems, interfaces, `""` for the
//! host itself), kept in a vector searched in order.
//!
//! Every host holds two of these per rule, and almost all hold nothing or one or two
//! objects. A `HashMap` allocates room for three entries at its first insert and a
//! `BTreeMap` a node for eleven; with 20,000 hosts that slack was most of the alert
//! engine's memory. An empty vector allocates nothing, and this one grows one entry at a
//! time (objects appear rarely: a new mount, a new interface), so it holds what it
//! needs. A linear search over a handful of short keys is as quick as hashing one.

use std::sync::Arc;

/// A small map from object name to `T`; the order of entries is not meaningful.
#[derive(Debug, Clone)]
pub struct Objects<T> {
    entries: Vec<(Arc<str>, T)>,
}

impl<T> Default for Objects<T> {
    fn default() -> Self {
        Objects {
            entries: Vec::new(),
        }
    }
}

impl<T> Objects<T> {
    /// How many objects have state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no object has state.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| **k == *key)
    }

    /// The state of `key`, if it has one.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        let i = self.position(key)?;
        Some(&mut self.entries[i].1)
    }

    /// Sets the state of `key`, replacing any it had.
    pub fn insert(&mut self, key: Arc<str>, value: T) {
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => self.push(key, value),
        }
    }

    /// The state of `key`, made by `make` (and its key allocated) only when it had none.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> T) -> &mut T {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.push(Arc::from(key), make());
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    /// Takes the state of `key` out.
    pub fn remove(&mut self, key: &str) -> Option<T> {
        let i = self.position(key)?;
        let (_, value) = self.entries.swap_remove(i);
        if self.entries.is_empty() {
            self.entries = Vec::new(); // An object set that emptied gives its memory back.
        }
        Some(value)
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Arc<str>, &T) -> bool) {
        self.entries.retain(|(k, v)| keep(k, v));
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &T)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    fn push(&mut self, key: Arc<str>, value: T) {
        // One more, not double: `Vec`'s first push alone would make room for four.
        self.entries.reserve_exact(1);
        self.entries.push((key, value));
    }
}

impl<'a, T> IntoIterator for &'a Objects<T> {
    type Item = (&'a Arc<str>, &'a T);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Arc<str>, T)>,
        fn(&'a (Arc<str>, T)) -> (&'a Arc<str>, &'a T),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<T> IntoIterator for Objects<T> {
    type Item = (Arc<str>, T);
    type IntoIter = std::vec::IntoIter<(Arc<str>, T)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut objects = Objects::default();
        assert!(objects.is_empty());
        objects.insert(Arc::from("/"), 1);
        objects.insert(Arc::from("/home"), 2);
        objects.insert(Arc::from("/"), 3);
        assert_eq!(objects.len(), 2);
        assert_eq!(objects.get_mut("/"), Some(&mut 3));
        *objects.get_or_insert_with("/home", || 99) += 10;
        assert_eq!(*objects.get_or_insert_with("/var", || 7), 7);
        let mut all: Vec<(String, i32)> =
            objects.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        all.sort();
        assert_eq!(
            all,
            [("/".into(), 3), ("/home".into(), 12), ("/var".into(), 7)]
        );
        assert_eq!(objects.remove("/home"), Some(12));
        assert_eq!(objects.remove("/home"), None);
        objects.retain(|k, _| &**k == "/var");
        assert_eq!(
            objects.into_iter().collect::<Vec<_>>(),
            [(Arc::from("/var"), 7)]
        );
    }

    #[test]
    fn holds_exactly_what_it_needs() {
        let mut objects = Objects::default();
        objects.insert(Arc::from(""), [0u64; 8]);
        assert_eq!(objects.entries.capacity(), 1, "one object, room for one");
        objects.insert(Arc::from("/home"), [0; 8]);
        assert_eq!(objects.entries.capacity(), 2);
        objects.remove("");
        objects.remove("/home");
        assert_eq!(objects.entries.capacity(), 0, "emptied: nothing kept");
    }
}
