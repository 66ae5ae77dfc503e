//! memcached's text-protocol `stats` command, on a connection of its own: what `connect` uses
//! to see that a server answers, and what [`SessionStore::stats`](sessionkit_core::SessionStore::stats)
//! reports.

use std::collections::HashMap;
use std::time::Duration;

use sessionkit_core::{Error, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::BACKEND;

/// The most bytes of `stats` output read from one server.
const MAX_STATS_BYTES: usize = 64 * 1024;

/// `stats` on `server` (`HOST:PORT`): every `STAT name value` line, within `limit` in all.
pub(crate) async fn stats(server: &str, limit: Duration) -> Result<HashMap<String, String>> {
    let asking = async {
        let mut stream = TcpStream::connect(server).await?;
        stream.write_all(b"stats\r\n").await?;
        let mut reader = BufReader::new(stream);
        let mut out = HashMap::new();
        let (mut line, mut read) = (String::new(), 0);
        loop {
            line.clear();
            let n = reader.read_line(&mut line).await?;
            read += n;
            if n == 0 || read > MAX_STATS_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the server's stats reply ended early or is too long",
                ));
            }
            let line = line.trim_end();
            if line == "END" {
                return Ok(out);
            }
            match line.strip_prefix("STAT ").and_then(|l| l.split_once(' ')) {
                Some((name, value)) => {
                    out.insert(name.to_owned(), value.to_owned());
                }
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not a memcached stats line: {:.60}", line),
                    ))
                }
            }
        }
    };
    match tokio::time::timeout(limit, asking).await {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err(Error::backend(BACKEND, e)
                .with_detail(format!("{server} does not answer like memcached")))
        }
        Ok(Err(e)) => {
            Err(Error::unavailable(BACKEND, e).with_detail(format!("{server} is not reachable")))
        }
        Err(elapsed) => Err(Error::timeout(BACKEND)
            .with_source(elapsed)
            .with_detail(format!("{server} did not answer stats in time"))),
    }
}
