//! The request parser.
//!
//! Requests are either multibulk (`*<n>\r\n` then `n` times `$<len>\r\n<bytes>\r\n`, what
//! every client library sends) or inline (a line of space-separated words, what a person types
//! into telnet; quotes as in `redis-cli`). Parsing is incremental: [`Parser::parse`] returns
//! `Ok(None)` until a whole command is buffered and never consumes a partial one.

use std::fmt;

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest inline request, and the longest header line.
const INLINE_MAX: usize = 64 * 1024;

/// Redis's `PROTO_MBULK_BIG_ARG`: an argument at least this long that is still arriving is
/// read into a buffer of its own (see [`Parser::big_arg`]).
pub const BIG_ARG: usize = 32 * 1024;

/// Size limits, Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest argument. Default 512 MiB.
    pub max_bulk_len: usize,
    /// The most arguments in one multibulk request. Default `i32::MAX` (Redis's limit).
    pub max_multibulk_len: usize,
    /// Limits for a client that has not authenticated while a password is required:
    /// Redis allows such a client 10 arguments of at most 16 KiB.
    pub unauthenticated: bool,
    /// `client-query-buffer-limit`: a connection whose unparsed input grows past this is
    /// closed (the parser itself does not look at it). Default 1 GiB.
    pub query_buffer_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 << 20,
            max_multibulk_len: i32::MAX as usize,
            unauthenticated: false,
            query_buffer_limit: 1 << 30,
        }
    }
}

/// A malformed request. The connection answers `-ERR Protocol error: <message>` and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(String);

impl ProtocolError {
    fn new(msg: impl Into<String>) -> Self {
        ProtocolError(msg.into())
    }

    /// The full error line Redis sends, without the leading `-` and trailing CRLF.
    pub fn message(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// A parsed command (its arguments) and the bytes it took from the buffer.
pub type Parsed = (Vec<Vec<u8>>, usize);

/// An incremental request parser for one connection's byte stream.
///
/// A multibulk request that is still arriving is not parsed again from its start at every
/// read: the arguments already complete are kept (like Redis's per-client `multibulklen` and
/// `bulklen`), so a request with a million arguments arriving in small reads costs linear
/// time. Hence the contract of [`parse`](Self::parse): after `Ok(None)`, the next call's
/// buffer starts with the same bytes, extended by whatever arrived.
#[derive(Debug, Clone, Default)]
pub struct Parser {
    /// The limits in force; change `unauthenticated` after `AUTH`.
    pub limits: Limits,
    /// Read large arguments into buffers of their own ([`Parser::big_arg`]); off by default.
    pub big_args: bool,
    partial: Option<Partial>,
}

/// A multibulk request whose first `args.len()` arguments are parsed.
#[derive(Debug, Clone)]
struct Partial {
    count: usize,
    args: Vec<Vec<u8>>,
    /// Where the next argument's header starts.
    pos: usize,
    /// A large argument arriving in a buffer of its own: the bytes so far and the argument's
    /// length (the buffer holds it and its CRLF when complete).
    big: Option<(Vec<u8>, usize)>,
    /// Bytes of the arguments in `args` that came in buffers of their own (not in the
    /// caller's buffer).
    taken: usize,
}

/// Finds `\r\n` at or after `from`; the index of the `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(2).position(|w| w == b"\r\n").map(|p| from + p)
}

/// Parses a decimal integer like Redis's `string2ll` (optional `-`, digits, no spaces, no `+`).
fn parse_int(bytes: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.is_empty() || s.starts_with('+') || s.len() > 20 {
        return None;
    }
    s.parse().ok()
}

impl Parser {
    /// A parser with `limits`.
    pub fn new(limits: Limits) -> Self {
        Parser {
            limits,
            big_args: false,
            partial: None,
        }
    }

    /// While a large argument (at least [`BIG_ARG`] bytes) is arriving and `big_args` is on:
    /// the length to cut the caller's buffer to, and the buffer (allocated once, of exactly the
    /// argument's size and its CRLF) to read the argument's remaining bytes into. The caller
    /// cuts its buffer, reads into this one until [`big_arg`](Self::big_arg) says `None`, and
    /// calls [`parse`](Self::parse) again with its (cut) buffer: the argument is handed over
    /// without a copy, and a large `SET` holds its value once, not once in the input buffer
    /// and again as an argument (as Redis does).
    pub fn big_arg(&mut self) -> Option<(usize, &mut Vec<u8>)> {
        let p = self.partial.as_mut()?;
        let pos = p.pos;
        match &mut p.big {
            Some((big, len)) if big.len() < *len + 2 => Some((pos, big)),
            _ => None,
        }
    }

    /// Bytes of a partly parsed request the parser holds outside the caller's buffer (large
    /// arguments, complete or arriving), for the query buffer limit.
    pub fn pending_bytes(&self) -> usize {
        self.partial
            .as_ref()
            .map_or(0, |p| p.taken + p.big.as_ref().map_or(0, |b| b.0.len()))
    }

    /// Forgets a partly parsed request (to parse an unrelated buffer next).
    pub fn reset(&mut self) {
        self.partial = None;
    }

    /// Parses the next command at the front of `buf`.
    ///
    /// Returns `Ok(Some((args, consumed)))` for a complete command (`args` may be empty for an
    /// empty line or `*0`, which Redis ignores: skip `consumed` bytes and call again),
    /// `Ok(None)` if more bytes are needed: call again with a buffer that starts with the same
    /// bytes and holds more (or [`reset`](Self::reset) first).
    ///
    /// # Errors
    /// A [`ProtocolError`] with Redis's message; the connection must reply and close.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        if let Some(partial) = self.partial.take() {
            return self.parse_arguments(buf, partial);
        }
        match buf.first() {
            None => Ok(None),
            Some(b'*') => self.parse_multibulk(buf),
            Some(_) => self.parse_inline(buf),
        }
    }

    fn parse_multibulk(&mut self, buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        let Some(eol) = find_crlf(buf, 0) else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::new("too big mbulk count string"));
            }
            return Ok(None);
        };
        if eol > INLINE_MAX {
            return Err(ProtocolError::new("too big mbulk count string"));
        }
        let count = match parse_int(&buf[1..eol]) {
            Some(n) if n <= i64::from(i32::MAX) => n,
            _ => return Err(ProtocolError::new("invalid multibulk length")),
        };
        let pos = eol + 2;
        if count <= 0 {
            return Ok(Some((Vec::new(), pos)));
        }
        let count = count as usize;
        if count > self.limits.max_multibulk_len {
            return Err(ProtocolError::new("invalid multibulk length"));
        }
        if self.limits.unauthenticated && count > 10 {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        // Never trust the count for an allocation: grow as arguments arrive.
        let partial = Partial {
            count,
            args: Vec::with_capacity(count.min(1024)),
            pos,
            big: None,
            taken: 0,
        };
        self.parse_arguments(buf, partial)
    }

    /// Parses arguments from `partial.pos` on; keeps `partial` when more bytes are needed.
    fn parse_arguments(
        &mut self,
        buf: &[u8],
        partial: Partial,
    ) -> Result<Option<Parsed>, ProtocolError> {
        let Partial {
            count,
            mut args,
            mut pos,
            big,
            mut taken,
        } = partial;
        if buf.len() < pos {
            // Not the stream this parser was following: a caller bug, reported, not a panic.
            return Err(ProtocolError::new(
                "request buffer changed under the parser",
            ));
        }
        if let Some((mut big, len)) = big {
            if big.len() < len + 2 {
                self.partial = Some(Partial {
                    count,
                    args,
                    pos,
                    big: Some((big, len)),
                    taken,
                });
                return Ok(None);
            }
            if big.get(len..) != Some(b"\r\n".as_slice()) {
                return Err(ProtocolError::new(format!(
                    "expected '$', got '{}'",
                    char::from(big.get(len).copied().unwrap_or(b'?'))
                )));
            }
            big.truncate(len);
            taken += len;
            args.push(big);
        }
        while args.len() < count {
            let Some(eol) = find_crlf(buf, pos) else {
                if buf.len() - pos > INLINE_MAX {
                    return Err(ProtocolError::new("too big bulk count string"));
                }
                self.partial = Some(Partial {
                    count,
                    args,
                    pos,
                    big: None,
                    taken,
                });
                return Ok(None);
            };
            if eol - pos > INLINE_MAX {
                return Err(ProtocolError::new("too big bulk count string"));
            }
            match buf.get(pos) {
                Some(b'$') => {}
                Some(&c) => {
                    return Err(ProtocolError::new(format!(
                        "expected '$', got '{}'",
                        char::from(c)
                    )))
                }
                None => {
                    self.partial = Some(Partial {
                        count,
                        args,
                        pos,
                        big: None,
                        taken,
                    });
                    return Ok(None);
                }
            }
            let len = match parse_int(&buf[pos + 1..eol]) {
                Some(n) if n >= 0 && (n as u64) <= self.limits.max_bulk_len as u64 => n as usize,
                _ => return Err(ProtocolError::new("invalid bulk length")),
            };
            if self.limits.unauthenticated && len > 16384 {
                return Err(ProtocolError::new("unauthenticated bulk length"));
            }
            let start = eol + 2;
            let end = start + len;
            if buf.len() < end + 2 {
                if self.big_args && len >= BIG_ARG {
                    // The caller cuts its buffer at `start` and reads the rest in here.
                    let mut big = Vec::with_capacity(len + 2);
                    big.extend_from_slice(&buf[start..]);
                    self.partial = Some(Partial {
                        count,
                        args,
                        pos: start,
                        big: Some((big, len)),
                        taken,
                    });
                    return Ok(None);
                }
                self.partial = Some(Partial {
                    count,
                    args,
                    pos,
                    big: None,
                    taken,
                });
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                // Redis reads exactly `len` bytes and then expects CRLF; anything else is
                // reported at the next header as a missing '$'.
                return Err(ProtocolError::new(format!(
                    "expected '$', got '{}'",
                    char::from(buf[end])
                )));
            }
            args.push(buf[start..end].to_vec());
            pos = end + 2;
        }
        Ok(Some((args, pos)))
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        if nl > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        let line = &buf[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let args =
            split_args(line).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
        Ok(Some((args, nl + 1)))
    }
}

/// Splits an inline request like Redis's `sdssplitargs`: words separated by whitespace; a
/// quote, at a word's start or inside it, opens `"..."` with `\n \r \t \b \a \\ \" \xHH`
/// escapes or `'...'` with `\'` only. A closing quote must be followed by whitespace or the
/// end. `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        while let Some(&b) = line.get(i) {
            if b.is_ascii_whitespace() {
                break;
            }
            if b != b'"' && b != b'\'' {
                cur.push(b);
                i += 1;
                continue;
            }
            i += 1;
            loop {
                let c = *line.get(i)?;
                if c == b {
                    i += 1;
                    if line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                        return None;
                    }
                    break;
                }
                let (byte, len) = if c == b'\\' {
                    unescape(line, i, b)?
                } else {
                    (c, 1)
                };
                cur.push(byte);
                i += len;
            }
            break;
        }
        args.push(cur);
    }
}

/// The byte the backslash at `line[i]` stands for inside `quote`, and how many bytes it takes:
/// in double quotes `\xHH` and `\n \r \t \b \a`, any other escaped byte as itself; in single
/// quotes only `\'`, any other backslash as itself. `None` for a backslash ending the line
/// inside double quotes.
fn unescape(line: &[u8], i: usize, quote: u8) -> Option<(u8, usize)> {
    let next = line.get(i + 1).copied();
    if quote == b'\'' {
        return Some(if next == Some(b'\'') {
            (b'\'', 2)
        } else {
            (b'\\', 1)
        });
    }
    let hex = |j: usize| line.get(j).and_then(|&b| (b as char).to_digit(16));
    if next == Some(b'x') {
        if let (Some(hi), Some(lo)) = (hex(i + 2), hex(i + 3)) {
            return Some(((hi * 16 + lo) as u8, 4));
        }
    }
    let c = match next? {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 8,
        b'a' => 7,
        other => other,
    };
    Some((c, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Parser {
        Parser::default()
    }

    fn args(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_pipelining() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n";
        let (a, n) = p().parse(buf).unwrap().unwrap();
        assert_eq!(a, args(&["GET", "k"]));
        let (b, m) = p().parse(&buf[n..]).unwrap().unwrap();
        assert_eq!(b, args(&["PING"]));
        assert_eq!(n + m, buf.len());
    }

    #[test]
    fn binary_safe_and_empty_arguments() {
        let buf = b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\n\r\n\0\xff\r\n";
        let (a, _) = p().parse(buf).unwrap().unwrap();
        assert_eq!(a, vec![b"SET".to_vec(), vec![], b"\r\n\0\xff".to_vec()]);
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let buf = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        for cut in 0..buf.len() {
            assert_eq!(p().parse(&buf[..cut]), Ok(None), "cut {cut}");
        }
        assert!(p().parse(buf).unwrap().is_some());
    }

    #[test]
    fn redis_error_strings() {
        let err = |b: &[u8]| p().parse(b).unwrap_err().message();
        assert_eq!(
            err(b"*3000000000\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*x\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
            "ERR Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            err(b"*1\r\n$-1\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"*1\r\n$536870913\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"SET \"unbalanced\r\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        let long = vec![b'a'; INLINE_MAX + 2];
        assert_eq!(err(&long), "ERR Protocol error: too big inline request");
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; INLINE_MAX + 2]);
        assert_eq!(err(&mb), "ERR Protocol error: too big mbulk count string");
    }

    /// A large argument arriving in pieces goes into a buffer of its own, of exactly its size,
    /// and is handed over as the argument; what follows it is parsed from the caller's buffer.
    #[test]
    fn a_large_argument_is_read_into_its_own_buffer() {
        let value: Vec<u8> = (0..BIG_ARG * 3).map(|i| i as u8).collect();
        let mut request =
            format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len()).into_bytes();
        request.extend_from_slice(&value);
        request.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
        for first in [30, 40, 1000, request.len() - 40] {
            let mut parser = Parser {
                big_args: true,
                ..Parser::default()
            };
            let mut buf = request[..first].to_vec();
            let mut fed = first;
            let (argv, used) = loop {
                if let Some(done) = parser.parse(&buf).unwrap() {
                    break done;
                }
                match parser.big_arg() {
                    Some((cut, big)) => {
                        assert_eq!(big.capacity(), value.len() + 2);
                        buf.truncate(cut);
                        // Never more than the argument and its CRLF.
                        let n = (big.capacity() - big.len()).min(7000);
                        big.extend_from_slice(&request[fed..fed + n]);
                        fed += n;
                    }
                    None => {
                        buf.push(request[fed]);
                        fed += 1;
                    }
                }
            };
            assert_eq!(argv.len(), 3, "first {first}");
            assert!(argv[2] == value);
            assert_eq!(argv[2].capacity(), value.len() + 2, "not copied");
            buf.drain(..used);
            buf.extend_from_slice(&request[fed..]);
            let (ping, _) = parser.parse(&buf).unwrap().unwrap();
            assert_eq!(ping, args(&["PING"]));
        }
        // A large argument not followed by CRLF is a protocol error, as a small one is.
        let mut parser = Parser {
            big_args: true,
            ..Parser::default()
        };
        let header = format!("*1\r\n${BIG_ARG}\r\n").into_bytes();
        assert_eq!(parser.parse(&header).unwrap(), None);
        let (cut, big) = parser.big_arg().unwrap();
        assert_eq!(cut, header.len());
        big.resize(BIG_ARG, b'a');
        big.extend_from_slice(b"xx");
        assert_eq!(
            parser.parse(&header).unwrap_err().message(),
            "ERR Protocol error: expected '$', got 'x'"
        );
    }

    #[test]
    fn negative_or_zero_multibulk_is_an_empty_command() {
        assert_eq!(p().parse(b"*-10\r\n").unwrap(), Some((vec![], 6)));
        assert_eq!(p().parse(b"*0\r\n").unwrap(), Some((vec![], 4)));
    }

    #[test]
    fn unauthenticated_limits() {
        let mut parser = Parser::new(Limits {
            unauthenticated: true,
            ..Limits::default()
        });
        assert_eq!(
            parser.parse(b"*11\r\n").unwrap_err().message(),
            "ERR Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            parser.parse(b"*1\r\n$16385\r\n").unwrap_err().message(),
            "ERR Protocol error: unauthenticated bulk length"
        );
    }

    #[test]
    fn inline_commands_and_quotes() {
        let parse = |b: &[u8]| p().parse(b).unwrap().unwrap().0;
        assert_eq!(parse(b"PING\r\n"), args(&["PING"]));
        assert_eq!(parse(b"  set  k   v \n"), args(&["set", "k", "v"]));
        assert_eq!(parse(b"\r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(
            parse(b"set k \"a b\\n\\x41\"\r\n"),
            args(&["set", "k", "a b\nA"])
        );
        assert_eq!(parse(b"set k 'it\\'s'\r\n"), args(&["set", "k", "it's"]));
        assert!(p().parse(b"set k \"a\"b\r\n").is_err());
        assert_eq!(p().parse(b"PIN").unwrap(), None);
        // Escapes as sdssplitargs reads them: an unknown one is the byte itself, a bad \x is
        // an x, a backslash in single quotes is itself, a quote closes only its own kind.
        assert_eq!(
            parse(b"e \"\\q\\xZZ\\\"\\\\\" '\\n\"'\r\n"),
            args(&["e", "qxZZ\"\\", "\\n\""])
        );
        assert!(
            p().parse(b"set k \"a\\\r\n").is_err(),
            "a backslash ending the line"
        );
        assert!(
            p().parse(b"set k 'a\r\n").is_err(),
            "unbalanced single quote"
        );
    }
}
