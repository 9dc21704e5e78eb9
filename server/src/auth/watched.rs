//! A file parsed once and parsed again whenever it changes on disk (size or modification
//! time), checked at most once a second, so `edge-token add` or `user add` take effect
//! without a restart. A change that does not parse keeps the previous contents and is
//! logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

/// How often the file's metadata is looked at, at most.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Parsed contents of a file, refreshed when the file changes; cheap to clone.
#[derive(Clone)]
pub struct Watched<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    path: PathBuf,
    parse: fn(&str) -> anyhow::Result<T>,
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Arc<T>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

impl<T> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl<T> Watched<T> {
    /// Reads and parses `path` now; an unreadable or invalid file is an error naming it.
    pub fn open(path: &Path, parse: fn(&str) -> anyhow::Result<T>) -> anyhow::Result<Watched<T>> {
        let (value, stamp) = read(path, parse)?;
        Ok(Watched {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                parse,
                state: Mutex::new(State {
                    value: Arc::new(value),
                    stamp,
                    checked: Instant::now(),
                }),
            }),
        })
    }

    /// The file this watches.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The current contents, re-read first if the file changed since the last look.
    pub fn get(&self) -> Arc<T> {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            let now = stamp(&self.inner.path);
            if now != state.stamp {
                match read(&self.inner.path, self.inner.parse) {
                    Ok((value, stamp)) => {
                        tracing::info!(path = %self.inner.path.display(), "file changed, reloaded");
                        state.value = Arc::new(value);
                        state.stamp = stamp;
                    }
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "keeping the previous contents");
                        state.stamp = now; // Warn once per change, not per look.
                    }
                }
            }
        }
        state.value.clone()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read<T>(
    path: &Path,
    parse: fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Option<(SystemTime, u64)>)> {
    let stamp = stamp(path);
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value = parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok((value, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> anyhow::Result<usize> {
        anyhow::ensure!(!text.contains("bad"), "bad line");
        Ok(text.lines().count())
    }

    #[test]
    fn changes_are_picked_up_and_bad_ones_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "a\n").unwrap();
        let watched = Watched::open(&path, lines).unwrap();
        assert_eq!(*watched.get(), 1);
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        watched.inner.state.lock().unwrap().checked -= CHECK_EVERY;
        assert_eq!(*watched.get(), 3);
        std::fs::write(&path, "bad\n").unwrap();
        watched.inner.state.lock().unwrap().checked -= CHECK_EVERY;
        assert_eq!(*watched.get(), 3);
        assert!(Watched::open(&dir.path().join("missing"), lines).is_err());
    }
}
