//! The connection layer's limits: how many connections one node holds open at once
//! (`--max-connections`), and how long a client may leave its answer unread
//! (`--write-timeout`). Both exist so that clients cannot pin a node's sockets, tasks and
//! buffers: a flood waits in the kernel's listen backlog, a slow reader is cut off.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most connections one node serves at once, unless `--max-connections` says otherwise.
/// Each open connection costs a task, a file descriptor and hyper's read and write buffers
/// (tens of KiB at most), so 4,096 bounds them to about a hundred MiB, while leaving room for
/// far more concurrent clients than one node's ledger writer keeps busy. Beyond it, new
/// connections wait in the kernel's listen backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How long a write to a client may make no progress before the connection is closed
/// (`--write-timeout`). A client that stops reading its answer holds the connection and the
/// answer's buffers only this long. The same as the read timeout: long enough for a phone on
/// a poor network to take the largest answer (a bill as CSV) piece by piece.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection counts for `/metrics`, shared by the accept loop and every connection task.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
    max: AtomicUsize,
    cap_reached: AtomicU64,
    write_timeouts: AtomicU64,
}

impl Connections {
    pub fn new(max: usize) -> Connections {
        let c = Connections::default();
        c.max.store(max, Ordering::Relaxed);
        c
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// `--max-connections`.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Times the node reached its cap and stopped accepting (once per episode).
    pub fn cap_reached(&self) -> u64 {
        self.cap_reached.load(Ordering::Relaxed)
    }

    /// Connections closed because the client did not read its answer in time.
    pub fn write_timeouts(&self) -> u64 {
        self.write_timeouts.load(Ordering::Relaxed)
    }

    pub(crate) fn note_cap_reached(&self) {
        self.cap_reached.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a connection as open until the returned guard is dropped.
    pub(crate) fn opened(self: &Arc<Self>) -> OpenConnection {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    /// The Prometheus text for `/metrics`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP purser_http_connections_open HTTP connections open on this node."
        );
        let _ = writeln!(out, "# TYPE purser_http_connections_open gauge");
        let _ = writeln!(out, "purser_http_connections_open {}", self.open());
        let _ = writeln!(
            out,
            "# HELP purser_http_connections_max The most HTTP connections this node serves at once (--max-connections); more wait in the listen backlog."
        );
        let _ = writeln!(out, "# TYPE purser_http_connections_max gauge");
        let _ = writeln!(out, "purser_http_connections_max {}", self.max());
        let _ = writeln!(
            out,
            "# HELP purser_http_connection_cap_reached_total Times this node reached --max-connections and stopped accepting until a connection closed."
        );
        let _ = writeln!(
            out,
            "# TYPE purser_http_connection_cap_reached_total counter"
        );
        let _ = writeln!(
            out,
            "purser_http_connection_cap_reached_total {}",
            self.cap_reached()
        );
        let _ = writeln!(
            out,
            "# HELP purser_http_write_timeouts_total Connections closed because the client did not read its answer within --write-timeout."
        );
        let _ = writeln!(out, "# TYPE purser_http_write_timeouts_total counter");
        let _ = writeln!(
            out,
            "purser_http_write_timeouts_total {}",
            self.write_timeouts()
        );
    }
}

/// One open connection, counted until dropped.
pub(crate) struct OpenConnection(Arc<Connections>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket whose writes fail with `TimedOut` once one has made no progress for `limit`: the
/// client stopped reading (its receive window and our send buffer are full). hyper then
/// closes the connection. Reads pass through untouched (the read timeouts are hyper's and
/// `read_body`'s). A live stream that has nothing to send waits on no write, so an idle
/// stream is never cut off; one whose reader stalls is.
pub(crate) struct WriteTimeout<T> {
    inner: T,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    counts: Arc<Connections>,
}

impl<T> WriteTimeout<T> {
    pub(crate) fn new(inner: T, limit: Duration, counts: Arc<Connections>) -> WriteTimeout<T> {
        WriteTimeout {
            inner,
            limit,
            stalled: None,
            counts,
        }
    }

    /// Start (or keep) the stall clock while the write is pending; stop it on progress.
    fn watch<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let clock = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match clock.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        self.stalled = None;
                        self.counts.write_timeouts.fetch_add(1, Ordering::Relaxed);
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client did not read its answer within the write timeout",
                        )))
                    }
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(polled, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_limit_and_one_that_is_read_does_not() {
        let counts = Arc::new(Connections::new(1));
        // A pipe with a 64-byte buffer: the writer blocks once it is full and unread.
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut w = WriteTimeout::new(ours, Duration::from_millis(200), counts.clone());
        let started = std::time::Instant::now();
        let e = w
            .write_all(&[7u8; 4096])
            .await
            .expect_err("an unread write times out");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(counts.write_timeouts(), 1);

        // Read slowly but steadily (every 50 ms, within the limit): never cut off.
        let (ours, mut theirs2) = tokio::io::duplex(64);
        let mut w = WriteTimeout::new(ours, Duration::from_millis(200), counts.clone());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                match theirs2.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            got.len()
        });
        w.write_all(&[7u8; 1024])
            .await
            .expect("a read answer is written");
        w.shutdown().await.expect("shutdown");
        drop(w);
        assert_eq!(reader.await.expect("reader"), 1024);
        assert_eq!(counts.write_timeouts(), 1);
        drop(theirs.read(&mut [0u8; 1]).await);
    }
}
