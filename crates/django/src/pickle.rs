//! A bound on pickles before they are parsed: the nesting and the size of what they build.
//!
//! `serde-pickle` parses with an explicit stack but converts and drops the values it built
//! recursively, and resolves a memo reference by copying the value: a corrupted or hostile cache
//! value of a few hundred kilobytes (200,000 nested lists, or a memo reference doubling a list
//! twenty times) would overflow the stack or exhaust memory. [`check`] walks the opcodes once,
//! without recursion, keeping only the depth and the node count of each stack entry, and
//! refuses what is deeper than [`MAX_DEPTH`], builds more than [`MAX_NODES`] values, or uses an
//! opcode a JSON-like value never needs (classes, `REDUCE`, `BUILD`, ...).

use std::collections::HashMap;

use sessionkit_core::MAX_DEPTH;

/// The most values (scalars and containers, memo references counted in full) a pickle may
/// build: far more than any session holds.
pub(crate) const MAX_NODES: u64 = 1_000_000;

/// What one stack entry builds: its nesting depth and its number of values.
#[derive(Debug, Clone, Copy)]
struct Built {
    depth: usize,
    nodes: u64,
}

const SCALAR: Built = Built { depth: 1, nodes: 1 };

#[derive(Debug, Clone, Copy)]
enum Entry {
    Mark,
    Value(Built),
}

/// Why a pickle is refused before parsing.
pub(crate) type Refusal = &'static str;

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Entry>,
    memo: HashMap<u64, Built>,
}

impl Walk<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Refusal> {
        let end = self.at.checked_add(n).ok_or("truncated")?;
        let slice = self.bytes.get(self.at..end).ok_or("truncated")?;
        self.at = end;
        Ok(slice)
    }

    /// A little-endian unsigned argument of `n` bytes.
    fn uint(&mut self, n: usize) -> Result<u64, Refusal> {
        Ok(self
            .take(n)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Skips a length-prefixed payload whose length takes `n` bytes.
    fn skip_counted(&mut self, n: usize) -> Result<(), Refusal> {
        let len = usize::try_from(self.uint(n)?).map_err(|_| "a length too large")?;
        self.take(len).map(drop)
    }

    fn push(&mut self, built: Built) -> Result<(), Refusal> {
        if built.depth > MAX_DEPTH {
            return Err("nested deeper than a session value may be");
        }
        if built.nodes > MAX_NODES {
            return Err("builds more values than a session holds");
        }
        self.stack.push(Entry::Value(built));
        Ok(())
    }

    fn pop(&mut self) -> Result<Built, Refusal> {
        match self.stack.pop() {
            Some(Entry::Value(b)) => Ok(b),
            _ => Err("an opcode found no value where it needs one"),
        }
    }

    fn top(&self) -> Result<Built, Refusal> {
        match self.stack.last() {
            Some(Entry::Value(b)) => Ok(*b),
            _ => Err("an opcode found no value where it needs one"),
        }
    }

    /// The values down to the topmost mark, which is removed.
    fn pop_to_mark(&mut self) -> Result<Vec<Built>, Refusal> {
        let mut items = Vec::new();
        loop {
            match self.stack.pop() {
                Some(Entry::Mark) => return Ok(items),
                Some(Entry::Value(b)) => items.push(b),
                None => return Err("no mark where one is needed"),
            }
        }
    }

    /// `container` with `items` put inside it.
    fn fill(container: Built, items: &[Built]) -> Built {
        items.iter().fold(container, |c, item| Built {
            depth: c.depth.max(item.depth.saturating_add(1)),
            nodes: c.nodes.saturating_add(item.nodes),
        })
    }

    /// Puts `items` into the container below them.
    fn add_to_top(&mut self, items: &[Built]) -> Result<(), Refusal> {
        let container = self.pop()?;
        self.push(Self::fill(container, items))
    }

    /// A new container (a tuple) made of `items`.
    fn push_new(&mut self, items: &[Built]) -> Result<(), Refusal> {
        self.push(Self::fill(SCALAR, items))
    }

    fn memo_get(&mut self, index: u64) -> Result<(), Refusal> {
        let built = *self.memo.get(&index).ok_or("a memo reference to nothing")?;
        self.push(built)
    }

    fn memo_put(&mut self, index: u64) -> Result<(), Refusal> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }
}

/// Refuses a pickle that would build something deeper than [`MAX_DEPTH`], more than
/// [`MAX_NODES`] values, or anything but dicts, lists, tuples, strings, bytes, numbers,
/// booleans and `None` (what a session of JSON-like values pickles to, with any protocol from
/// 2 on); otherwise `Ok`. Never recursive.
pub(crate) fn check(bytes: &[u8]) -> Result<(), Refusal> {
    let mut w = Walk {
        bytes,
        at: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let op = w.take(1)?[0];
        match op {
            0x80 => w.take(1).map(drop)?,                               // PROTO
            0x95 => w.take(8).map(drop)?,                               // FRAME
            b'.' => break,                                              // STOP
            b'(' => w.stack.push(Entry::Mark),                          // MARK
            b'}' | b']' | b')' => w.push(SCALAR)?, // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE
            b'N' | 0x88 | 0x89 => w.push(SCALAR)?, // NONE, NEWTRUE, NEWFALSE
            b'K' => w.take(1).map(drop).and_then(|()| w.push(SCALAR))?, // BININT1
            b'M' => w.take(2).map(drop).and_then(|()| w.push(SCALAR))?, // BININT2
            b'J' => w.take(4).map(drop).and_then(|()| w.push(SCALAR))?, // BININT
            b'G' => w.take(8).map(drop).and_then(|()| w.push(SCALAR))?, // BINFLOAT
            0x8a => w.skip_counted(1).and_then(|()| w.push(SCALAR))?, // LONG1
            0x8b => w.skip_counted(4).and_then(|()| w.push(SCALAR))?, // LONG4
            0x8c | b'C' => w.skip_counted(1).and_then(|()| w.push(SCALAR))?, // SHORT_BIN{UNICODE,BYTES}
            b'X' | b'B' => w.skip_counted(4).and_then(|()| w.push(SCALAR))?, // BIN{UNICODE,BYTES}
            0x8d | 0x8e => w.skip_counted(8).and_then(|()| w.push(SCALAR))?, // BIN{UNICODE,BYTES}8
            b'a' => {
                // APPEND
                let item = w.pop()?;
                w.add_to_top(&[item])?;
            }
            b's' => {
                // SETITEM
                let value = w.pop()?;
                let key = w.pop()?;
                w.add_to_top(&[key, value])?;
            }
            b'e' | b'u' => {
                // APPENDS, SETITEMS
                let items = w.pop_to_mark()?;
                w.add_to_top(&items)?;
            }
            b't' => {
                // TUPLE
                let items = w.pop_to_mark()?;
                w.push_new(&items)?;
            }
            0x85..=0x87 => {
                // TUPLE1, TUPLE2, TUPLE3
                let n = usize::from(op - 0x84);
                let items = (0..n).map(|_| w.pop()).collect::<Result<Vec<_>, _>>()?;
                w.push_new(&items)?;
            }
            0x94 => {
                // MEMOIZE
                let index = w.memo.len() as u64;
                w.memo_put(index)?;
            }
            b'q' => {
                let index = w.uint(1)?;
                w.memo_put(index)?; // BINPUT
            }
            b'r' => {
                let index = w.uint(4)?;
                w.memo_put(index)?; // LONG_BINPUT
            }
            b'h' => {
                let index = w.uint(1)?;
                w.memo_get(index)?; // BINGET
            }
            b'j' => {
                let index = w.uint(4)?;
                w.memo_get(index)?; // LONG_BINGET
            }
            _ => return Err("an opcode no JSON-like value needs (a class, a reduce, ...)"),
        }
    }
    match w.stack.as_slice() {
        [Entry::Value(_)] => Ok(()),
        _ => Err("the pickle does not end with one value"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` lists, each inside the one before.
    pub(crate) fn nested(n: usize) -> Vec<u8> {
        let mut b = b"\x80\x03".to_vec();
        b.extend(std::iter::repeat_n(b']', n));
        b.extend(std::iter::repeat_n(b'a', n - 1));
        b.push(b'.');
        b
    }

    #[test]
    fn what_python_writes_for_sessions_passes() {
        // CPython 3.11, pickle.dumps({'hello': 'world'}, 5) (the reference's §4.6).
        let hello = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05hello\x94\x8c\x05world\x94s.";
        assert_eq!(check(hello), Ok(()));
        // {'a': [1, 2.5, None, True], 'b': {'c': 2**70}} at protocol 2, with MARK, SETITEMS,
        // APPENDS, LONG1 and BINPUT.
        let mixed = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88eX\x01\x00\x00\x00bq\x03}q\x04X\x01\x00\x00\x00cq\x05\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@su.";
        assert_eq!(check(mixed), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
    }

    #[test]
    fn deep_big_foreign_or_broken_pickles_are_refused() {
        assert!(check(&nested(MAX_DEPTH + 1)).is_err());
        assert!(check(&nested(200_000)).is_err());
        // A memo bomb: a list of two references to the list before, 30 times over (2^30
        // values from 250 bytes).
        let mut bomb = b"\x80\x03]\x94".to_vec();
        for i in 0..30u8 {
            bomb.extend_from_slice(&[b']', b'(', b'h', i, b'h', i, b'e', 0x94]);
        }
        bomb.push(b'.');
        assert_eq!(check(&bomb), Err("builds more values than a session holds"));
        // datetime.datetime(2030, 1, 2): a global and a reduce.
        let datetime = b"\x80\x04\x95*\x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94C\n\x07\xee\x01\x02\x00\x00\x00\x00\x00\x00\x94\x85\x94R\x94.";
        assert!(check(datetime).is_err());
        for broken in [
            &b""[..],
            b"\x80",
            b"\x80\x03",
            b"\x80\x03X\xff\xff\xff\xff",
            b"\x80\x03a.",
            b"\x80\x03K\x01K\x02.",
            b"\x80\x03h\x05.",
        ] {
            assert!(check(broken).is_err(), "{broken:?}");
        }
    }
}
