//! Just enough of the redis (RESP) and memcached text protocols to ping a server and run a
//! command from a test, without a client crate.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A redis reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisReply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$n` bulk string; `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the null array.
    Array(Option<Vec<RedisReply>>),
}

impl RedisReply {
    /// The reply as text, when it is a status or bulk string.
    pub fn as_text(&self) -> Option<String> {
        match self {
            RedisReply::Status(s) => Some(s.clone()),
            RedisReply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

fn connect(port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    let n = reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".to_owned());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_reply(reader: &mut impl BufRead, depth: usize) -> Result<RedisReply, String> {
    if depth > 8 {
        return Err("reply nested too deeply".to_owned());
    }
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at_checked(1).ok_or("empty reply line")?;
    let number = || {
        rest.parse::<i64>()
            .map_err(|e| format!("bad length {rest:?}: {e}"))
    };
    match kind {
        "+" => Ok(RedisReply::Status(rest.to_owned())),
        "-" => Ok(RedisReply::Error(rest.to_owned())),
        ":" => Ok(RedisReply::Integer(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(RedisReply::Bulk(None));
            }
            let len = usize::try_from(len).map_err(|e| e.to_string())?;
            let mut buf = vec![0; len + 2];
            reader.read_exact(&mut buf).map_err(|e| e.to_string())?;
            buf.truncate(len);
            Ok(RedisReply::Bulk(Some(buf)))
        }
        "*" => {
            let len = number()?;
            if len < 0 {
                return Ok(RedisReply::Array(None));
            }
            let items = (0..len)
                .map(|_| read_reply(reader, depth + 1))
                .collect::<Result<_, _>>()?;
            Ok(RedisReply::Array(Some(items)))
        }
        other => Err(format!("unexpected reply type {other:?}")),
    }
}

/// Sends one command to the redis server on `127.0.0.1:port` and reads its reply.
pub fn redis_command(port: u16, args: &[&str], timeout: Duration) -> Result<RedisReply, String> {
    let mut stream = connect(port, timeout)?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).map_err(|e| e.to_string())?;
    read_reply(&mut BufReader::new(stream), 0)
}

/// `PING` must answer `+PONG` (not `-LOADING`, not an error).
pub(crate) fn redis_ping(port: u16) -> Result<(), String> {
    match redis_command(port, &["PING"], Duration::from_secs(2))? {
        RedisReply::Status(s) if s == "PONG" => Ok(()),
        other => Err(format!("PING answered {other:?}")),
    }
}

/// Sends one text-protocol request (e.g. `"version"`, `"get k"`) to the memcached server on
/// `127.0.0.1:port`; returns the reply lines up to and including the terminating line
/// (`END`, `STORED`, `VERSION ...`, an error, ...).
pub fn memcached_command(
    port: u16,
    request: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let mut stream = connect(port, timeout)?;
    stream
        .write_all(format!("{request}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut lines = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        // A `VALUE` line is followed by its data line; anything else ends the reply.
        let after_value = lines
            .last()
            .is_some_and(|prev: &String| prev.starts_with("VALUE "));
        let done = !line.starts_with("VALUE ") && !after_value;
        lines.push(line);
        if done {
            return Ok(lines);
        }
    }
}

/// `version` must answer `VERSION x.y.z`.
pub(crate) fn memcached_ping(port: u16) -> Result<(), String> {
    let lines = memcached_command(port, "version", Duration::from_secs(2))?;
    match lines.first() {
        Some(line) if line.starts_with("VERSION ") => Ok(()),
        other => Err(format!("`version` answered {other:?}")),
    }
}
