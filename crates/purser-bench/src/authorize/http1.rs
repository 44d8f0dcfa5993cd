//! A minimal HTTP/1.1 client over one persistent (keep-alive) `TcpStream`: what a load
//! generator needs and nothing more. One request at a time per connection; the answer is read
//! by `Content-Length` or chunked transfer coding. No TLS, no redirects, no pipelining.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted: Purser's heads are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest response body accepted: a payment answer with its receipt is a few KiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// An answer: status, the headers the bench looks at, the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server said `Connection: close`: this connection cannot carry another request.
    pub close: bool,
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read past the previous answer (none with a well-behaved server).
    buf: Vec<u8>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Conn {
    pub async fn connect(addr: std::net::SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        // Each request goes out in one write; do not hold it back waiting for an ACK.
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
        })
    }

    /// Send one complete request (head and body in `wire`) and read its answer.
    pub async fn exchange(&mut self, wire: &[u8]) -> io::Result<Response> {
        self.stream.write_all(wire).await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> io::Result<()> {
        let start = self.buf.len();
        self.buf.resize(start + READ_CHUNK, 0);
        let n = self.stream.read(&mut self.buf[start..]).await;
        match n {
            Ok(0) => {
                self.buf.truncate(start);
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ))
            }
            Ok(n) => {
                self.buf.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(bad("response head too large"));
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("malformed status line"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = status_line.starts_with("HTTP/1.0");
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().map_err(|_| bad("bad Content-Length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.buf.drain(..head_end + 4);
        let body = if chunked {
            self.read_chunked().await?
        } else {
            let n = length.unwrap_or(0);
            if n > MAX_BODY_BYTES {
                return Err(bad("response body too large"));
            }
            while self.buf.len() < n {
                self.fill().await?;
            }
            let rest = self.buf.split_off(n);
            std::mem::replace(&mut self.buf, rest)
        };
        Ok(Response {
            status,
            body,
            close,
        })
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.buf.len() > MAX_HEAD_BYTES {
                    return Err(bad("chunk size line too long"));
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.buf[..line_end])
                .map_err(|_| bad("chunk size is not text"))?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size is not hex"))?;
            if body.len().saturating_add(size) > MAX_BODY_BYTES {
                return Err(bad("response body too large"));
            }
            self.buf.drain(..line_end + 2);
            // The chunk and its CRLF (after the last chunk: the empty trailer's CRLF).
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request's bytes: head with `Host`, `Content-Length` and the given headers, then body.
pub fn request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut w = Vec::with_capacity(512 + body.len());
    w.extend_from_slice(method.as_bytes());
    w.push(b' ');
    w.extend_from_slice(path.as_bytes());
    w.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    w.extend_from_slice(host.as_bytes());
    w.extend_from_slice(b"\r\nContent-Length: ");
    w.extend_from_slice(body.len().to_string().as_bytes());
    w.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        w.extend_from_slice(name.as_bytes());
        w.extend_from_slice(b": ");
        w.extend_from_slice(value.as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(body);
    w
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(replies: Vec<&'static [u8]>) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for r in replies {
                let _ = s.read(&mut buf).await.unwrap();
                // Split the answer in two writes so the reader has to come back for more.
                let (a, b) = r.split_at(r.len() / 2);
                s.write_all(a).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                s.write_all(b).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_length_and_chunked_answers_on_one_connection() {
        let addr = serve_once(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        let mut c = Conn::connect(addr).await.unwrap();
        let wire = request("POST", "/x", "h", &[("A", "b")], b"{}");
        assert!(
            wire.starts_with(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nA: b\r\n\r\n{}")
        );
        let r = c.exchange(&wire).await.unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.close),
            (200, &b"hello"[..], false)
        );
        let r = c.exchange(&wire).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"abcde"[..]));
        let r = c.exchange(&wire).await.unwrap();
        assert_eq!((r.status, r.body.len(), r.close), (503, 0, true));
        assert!(c.exchange(&wire).await.is_err());
    }
}
