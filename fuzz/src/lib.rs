//! A fuzzer that runs on stable Rust: proptest generates inputs, mostly by mutating the
//! committed corpus (`fuzz/corpus/<target>/`) with byte flips, insertions, deletions,
//! repeats, splices and dictionary tokens, and sometimes from scratch.
//!
//! cargo-fuzz needs a nightly compiler for its sanitizer flags; this machine has only
//! stable, so the targets (`fuzz/tests/*.rs`) run as ordinary tests: briefly in
//! `make test`, for [`FUZZ_SECONDS_VAR`] seconds each in `make fuzz`. It is not
//! coverage-guided: inputs come from the corpus and random mutation, and a failing input
//! is shrunk by proptest and written to `fuzz/artifacts/<target>/` to replay and commit.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Environment variable holding the time budget of one target, in seconds.
pub const FUZZ_SECONDS_VAR: &str = "UTIZMON_FUZZ_SECONDS";

/// Budget of one target when [`FUZZ_SECONDS_VAR`] is unset (the short run of `make test`).
pub const DEFAULT_SECONDS: f64 = 2.0;

/// Largest generated input, in bytes.
const MAX_INPUT: usize = 8 * 1024;

/// Cases per proptest runner; runners repeat until the budget is spent.
const CASES_PER_ROUND: u32 = 512;

/// One way to change a corpus entry.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    InsertByte {
        at: usize,
        byte: u8,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Repeat {
        at: usize,
        len: usize,
        times: usize,
    },
    Token {
        at: usize,
        token: usize,
    },
    Splice {
        at: usize,
        other: usize,
        from: usize,
    },
    Truncate {
        at: usize,
    },
}

/// A fuzz target: its name (the corpus directory) and the tokens worth inserting.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub dictionary: &'static [&'static str],
}

/// What one run covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Inputs checked, corpus entries included.
    pub inputs: u64,
    /// Corpus entries replayed first.
    pub corpus: usize,
}

impl Target {
    /// Replays the corpus, then checks generated inputs until the time budget is spent.
    /// Panics with the (shrunk) failing input, after writing it to `fuzz/artifacts/`.
    pub fn run(&self, check: impl Fn(&[u8])) -> Report {
        let corpus = self.corpus();
        assert!(!corpus.is_empty(), "the corpus of {} is empty", self.name);
        for entry in &corpus {
            if let Err(why) = guarded(&check, entry) {
                self.fail(TestError::Fail(why.into(), entry.clone()));
            }
        }
        let deadline = Instant::now() + budget();
        let mut inputs = corpus.len() as u64;
        let strategy = self.inputs(corpus.clone());
        while Instant::now() < deadline {
            let mut runner = TestRunner::new(Config {
                cases: CASES_PER_ROUND,
                failure_persistence: None,
                ..Config::default()
            });
            let result = runner.run(&strategy, |input| {
                guarded(&check, &input).map_err(TestCaseError::fail)
            });
            inputs += u64::from(CASES_PER_ROUND);
            if let Err(error) = result {
                self.fail(error);
            }
        }
        Report {
            inputs,
            corpus: corpus.len(),
        }
    }

    /// Every file of `fuzz/corpus/<name>/`, sorted by name.
    pub fn corpus(&self) -> Vec<Vec<u8>> {
        let dir = root().join("corpus").join(self.name);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("listing the corpus").path())
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())))
            .collect()
    }

    fn inputs(&self, corpus: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
        let n_corpus = corpus.len();
        let n_tokens = self.dictionary.len().max(1);
        let dictionary = self.dictionary;
        let mutation = prop_oneof![
            (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
            (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte { at, byte }),
            (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
            (any::<usize>(), 1usize..32, 1usize..200)
                .prop_map(|(at, len, times)| Mutation::Repeat { at, len, times }),
            (any::<usize>(), 0..n_tokens).prop_map(|(at, token)| Mutation::Token { at, token }),
            (any::<usize>(), 0..n_corpus, any::<usize>())
                .prop_map(|(at, other, from)| Mutation::Splice { at, other, from }),
            any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        ];
        let mutated = (0..n_corpus, proptest::collection::vec(mutation, 1..8)).prop_map(
            move |(entry, mutations)| {
                let mut input = corpus[entry].clone();
                for m in &mutations {
                    apply(&mut input, m, &corpus, dictionary);
                }
                input.truncate(MAX_INPUT);
                input
            },
        );
        prop_oneof![
            4 => mutated,
            1 => proptest::collection::vec(any::<u8>(), 0..512),
        ]
        .boxed()
    }

    fn fail(&self, error: TestError<Vec<u8>>) -> ! {
        let (why, input) = match error {
            TestError::Fail(why, input) => (why.to_string(), input),
            TestError::Abort(why) => panic!("fuzzing {} aborted: {why}", self.name),
        };
        let dir = root().join("artifacts").join(self.name);
        let path = dir.join(format!("crash-{:016x}", fnv1a(&input)));
        let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input));
        let saved = match saved {
            Ok(()) => format!("saved to {}", path.display()),
            Err(e) => format!("could not save it to {}: {e}", path.display()),
        };
        panic!(
            "fuzz target {} failed: {why}\ninput ({} bytes, {saved}): {:?}",
            self.name,
            input.len(),
            String::from_utf8_lossy(&input)
        );
    }
}

/// The time budget of one target.
pub fn budget() -> Duration {
    let seconds = std::env::var(FUZZ_SECONDS_VAR)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(DEFAULT_SECONDS);
    Duration::from_secs_f64(seconds.min(24.0 * 3600.0))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn apply(input: &mut Vec<u8>, mutation: &Mutation, corpus: &[Vec<u8>], dictionary: &[&str]) {
    // Positions are taken modulo the current length, so every mutation applies somewhere.
    let pos = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
    match *mutation {
        Mutation::FlipBit { at, bit } => {
            if !input.is_empty() {
                let i = at % input.len();
                input[i] ^= 1 << bit;
            }
        }
        Mutation::InsertByte { at, byte } => {
            let i = pos(at, input.len());
            input.insert(i, byte);
        }
        Mutation::Delete { at, len } => {
            let i = pos(at, input.len());
            let end = (i + len).min(input.len());
            input.drain(i..end);
        }
        Mutation::Repeat { at, len, times } => {
            let i = pos(at, input.len());
            let end = (i + len).min(input.len());
            let chunk = input[i..end].to_vec();
            let tail = input.split_off(end);
            for _ in 0..times {
                if input.len() + chunk.len() > MAX_INPUT {
                    break;
                }
                input.extend_from_slice(&chunk);
            }
            input.extend(tail);
        }
        Mutation::Token { at, token } => {
            if let Some(token) = dictionary.get(token) {
                let i = pos(at, input.len());
                input.splice(i..i, token.bytes());
            }
        }
        Mutation::Splice { at, other, from } => {
            let other = &corpus[other % corpus.len()];
            let i = pos(at, input.len());
            let j = pos(from, other.len());
            input.truncate(i);
            input.extend_from_slice(&other[j..]);
        }
        Mutation::Truncate { at } => {
            let i = pos(at, input.len());
            input.truncate(i);
        }
    }
}

/// Runs `check`, turning a panic into its message.
fn guarded(check: &impl Fn(&[u8]), input: &[u8]) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(input)))
        .map_err(|e| panic_text(e.as_ref()))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned())
}

/// A stable name for an artifact.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds() {
        let corpus = vec![b"abc".to_vec(), Vec::new()];
        let dictionary = ["TOKEN"];
        let mutations = [
            Mutation::FlipBit { at: 99, bit: 7 },
            Mutation::InsertByte { at: 99, byte: b'x' },
            Mutation::Delete { at: 1, len: 99 },
            Mutation::Repeat {
                at: 0,
                len: 2,
                times: 3,
            },
            Mutation::Token { at: 1, token: 0 },
            Mutation::Splice {
                at: 2,
                other: 0,
                from: 1,
            },
            Mutation::Truncate { at: 1000 },
        ];
        for start in &corpus {
            let mut input = start.clone();
            for m in &mutations {
                apply(&mut input, m, &corpus, &dictionary);
                assert!(input.len() <= MAX_INPUT);
            }
        }
        let mut input = b"abcdef".to_vec();
        apply(
            &mut input,
            &Mutation::Repeat {
                at: 0,
                len: 2,
                times: 2,
            },
            &corpus,
            &dictionary,
        );
        assert_eq!(input, b"abababcdef");
    }

    #[test]
    fn a_failing_check_is_reported_with_its_input() {
        let target = Target {
            name: "samples_query",
            dictionary: &[],
        };
        let result = std::panic::catch_unwind(|| {
            target.run(|input| assert!(!input.contains(&b'&'), "found an ampersand"))
        });
        let message = panic_text(result.unwrap_err().as_ref());
        assert!(message.contains("found an ampersand"), "{message}");
        assert!(message.contains("saved to"), "{message}");
    }
}
