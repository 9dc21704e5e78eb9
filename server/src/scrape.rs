//! Serving one `/metrics` scrape without stalling ingest: the registry is encoded on a
//! blocking thread, never on the async runtime, and handed to the client in chunks of
//! [`CHUNK_BYTES`], so the whole body (hundreds of megabytes for a large fleet) is never
//! in memory at once.
//!
//! Bounds: at most [`MAX_CONCURRENT_SCRAPES`] encodes run at once (more wait for a
//! turn); at most [`CHUNKS_IN_FLIGHT`] chunks wait for a slow client, and a client that
//! takes no chunk for [`CHUNK_SEND_TIMEOUT`] is abandoned (its body ends with an error,
//! so the scraper sees a failed scrape rather than a truncated one that looks whole).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::metrics::{self, Format};

/// Size at which an encoded chunk is handed to the client, in bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Encoded chunks waiting for the client; the encoder pauses when they are all taken.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// Longest the encoder waits for a slow client to take one chunk.
pub const CHUNK_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Scrapes encoding at once; each holds one blocking thread.
pub const MAX_CONCURRENT_SCRAPES: usize = 4;

/// What a streamed chunk is: bytes, or the error that ends the body early.
type Chunk = Result<Bytes, std::io::Error>;

/// Limits the scrapes that encode at once; cheap to clone.
#[derive(Debug, Clone)]
pub struct Scrapes {
    slots: Arc<Semaphore>,
}

impl Default for Scrapes {
    fn default() -> Scrapes {
        Scrapes {
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_SCRAPES)),
        }
    }
}

impl Scrapes {
    /// Waits for a turn, then starts encoding `registry` on a blocking thread and returns
    /// the response body that streams it.
    pub async fn body(&self, registry: Arc<Registry>, format: Format) -> Body {
        // Cannot fail: the semaphore is never closed.
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the scrape semaphore is never closed");
        let (tx, rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            encode_in_chunks(&registry, format, tx, runtime, permit)
        });
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        Body::from_stream(chunks)
    }
}

/// Runs on a blocking thread: encodes into a [`ChunkWriter`] and sends the last chunk,
/// or an error chunk when encoding failed or the client went away.
fn encode_in_chunks(
    registry: &Registry,
    format: Format,
    tx: mpsc::Sender<Chunk>,
    runtime: tokio::runtime::Handle,
    _permit: OwnedSemaphorePermit,
) {
    let mut out = ChunkWriter {
        buf: String::with_capacity(CHUNK_BYTES + 4096),
        tx,
        runtime,
    };
    let encoded = metrics::encode_to(&mut out, registry, format);
    match encoded {
        Ok(()) => {
            let _ = out.send_buffer();
        }
        Err(std::fmt::Error) if out.tx.is_closed() => {
            tracing::debug!("scraper went away during /metrics");
        }
        Err(std::fmt::Error) => {
            tracing::warn!(
                "encoding /metrics failed or the scraper stalled; ending the body early"
            );
            let error = std::io::Error::other("encoding /metrics failed");
            let _ = out.send(Err(error));
        }
    }
}

/// A `fmt::Write` that hands every [`CHUNK_BYTES`] written to the response body, waiting
/// (bounded) while the client is behind.
struct ChunkWriter {
    buf: String,
    tx: mpsc::Sender<Chunk>,
    runtime: tokio::runtime::Handle,
}

impl ChunkWriter {
    fn send_buffer(&mut self) -> std::fmt::Result {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            String::with_capacity(CHUNK_BYTES + 4096),
        ));
        self.send(Ok(chunk))
    }

    fn send(&mut self, chunk: Chunk) -> std::fmt::Result {
        let sent = self.runtime.block_on(async {
            tokio::time::timeout(CHUNK_SEND_TIMEOUT, self.tx.send(chunk)).await
        });
        match sent {
            Ok(Ok(())) => Ok(()),
            // Client gone (receiver dropped) or stalled: stop encoding.
            _ => Err(std::fmt::Error),
        }
    }
}

impl std::fmt::Write for ChunkWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_scrape_arrives_in_chunks_and_equals_the_whole() {
        let mut registry = Registry::with_prefix("t");
        for i in 0..3000 {
            let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
            counter.inc_by(i);
            registry.register(format!("series_{i}"), "A test series.", counter);
        }
        let registry = Arc::new(registry);
        let whole = metrics::encode(&registry, Format::OpenMetrics).unwrap();
        assert!(whole.len() > 3 * CHUNK_BYTES, "{}", whole.len());
        let mut body = Scrapes::default()
            .body(registry, Format::OpenMetrics)
            .await
            .into_data_stream();
        let mut chunks = Vec::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            chunks.push(chunk.unwrap());
        }
        assert!(chunks.len() > 3);
        assert!(chunks.iter().all(|c| c.len() < CHUNK_BYTES + 4096));
        assert_eq!(chunks.concat(), whole.as_bytes());
    }
}
