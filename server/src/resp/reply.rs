//! Replies and their encoding.

/// The protocol a connection speaks: RESP2 (the default) or RESP3 (after `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// A reply. RESP3-only types are downgraded for RESP2 connections the way Redis does it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: the whole message including its prefix (`ERR`, `WRONGTYPE`, ...).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nfoo`.
    Bulk(Vec<u8>),
    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// Nothing at all (`SHUTDOWN` closes the connection without a reply).
    NoReply,
    /// `*N`.
    Array(Vec<Reply>),
    /// `%N` in RESP3; a flat array of keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// `~N` in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// `,1.5` in RESP3; a bulk string in RESP2.
    Double(f64),
    /// `#t` in RESP3; `:1`/`:0` in RESP2.
    Boolean(bool),
    /// `=N\r\ntxt:...` in RESP3; a bulk string in RESP2.
    Verbatim(String),
    /// `>N` in RESP3 (out-of-band push); an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies one after the other (SUBSCRIBE to several channels answers one push
    /// for each).
    Several(Vec<Reply>),
}

/// A double as Redis 7.0 replies it (`%.17g`: `0.1` is `0.10000000000000001`, `inf`,
/// `-inf`).
pub fn format_double(d: f64) -> String {
    format_g(d, 17)
}

/// `n` as C's `%.{precision}g` writes it.
pub fn format_g(n: f64, precision: usize) -> String {
    if !n.is_finite() {
        return if n.is_nan() {
            "nan".into()
        } else if n > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let precision = precision.max(1);
    // `precision` significant digits, then %g's choice between fixed and exponent notation.
    let sci = format!("{n:.*e}", precision - 1);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if exp < -4 || exp >= precision as i32 {
        let m = trim(mantissa.to_string());
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(precision as i32 - 1 - exp).unwrap_or(0);
        trim(format!("{n:.decimals$}"))
    }
}

/// Error and status lines cannot hold CR or LF: Redis replaces them with spaces.
fn line(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes()
        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
}

fn header(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// An error reply; `msg` carries its prefix, e.g. `"ERR syntax error"`.
    pub fn error(msg: impl Into<String>) -> Reply {
        Reply::Error(msg.into())
    }

    /// Appends the encoding of this reply for `proto` to `out`.
    pub fn write(&self, proto: Protocol, out: &mut Vec<u8>) {
        let v3 = proto == Protocol::Resp3;
        match self {
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend(line(s));
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(s) => {
                out.push(b'-');
                out.extend(line(s));
                out.extend_from_slice(b"\r\n");
            }
            Reply::Integer(i) => {
                out.push(b':');
                out.extend_from_slice(i.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(b) => bulk(out, b),
            Reply::NoReply => {}
            Reply::Null if v3 => out.extend_from_slice(b"_\r\n"),
            Reply::Null => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray if v3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for i in items {
                    i.write(proto, out);
                }
            }
            Reply::Map(pairs) => {
                if v3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.write(proto, out);
                    v.write(proto, out);
                }
            }
            Reply::Set(items) | Reply::Push(items) => {
                let tag = match (self, v3) {
                    (Reply::Set(_), true) => b'~',
                    (Reply::Push(_), true) => b'>',
                    _ => b'*',
                };
                header(out, tag, items.len());
                for i in items {
                    i.write(proto, out);
                }
            }
            Reply::Double(d) if v3 => {
                out.push(b',');
                out.extend_from_slice(format_double(*d).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Double(d) => bulk(out, format_double(*d).as_bytes()),
            Reply::Boolean(b) if v3 => {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" })
            }
            Reply::Boolean(b) => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            Reply::Verbatim(text) if v3 => {
                header(out, b'=', text.len() + 4);
                out.extend_from_slice(b"txt:");
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Verbatim(text) => bulk(out, text.as_bytes()),
            Reply::Several(replies) => {
                for r in replies {
                    r.write(proto, out);
                }
            }
        }
    }

    /// Whether this reply is a push (a Pub/Sub confirmation): sent even under CLIENT REPLY
    /// OFF, as Redis sends them.
    pub fn is_push(&self) -> bool {
        match self {
            Reply::Push(_) => true,
            Reply::Several(r) => r.iter().all(Reply::is_push),
            _ => false,
        }
    }

    /// The encoding of this reply for `proto`.
    pub fn to_bytes(&self, proto: Protocol) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(proto, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Protocol::{Resp2, Resp3};

    fn enc(r: &Reply, p: Protocol) -> String {
        String::from_utf8(r.to_bytes(p)).unwrap()
    }

    #[test]
    fn resp2_and_resp3_encodings() {
        assert_eq!(enc(&Reply::ok(), Resp2), "+OK\r\n");
        assert_eq!(
            enc(&Reply::error("ERR syntax error"), Resp2),
            "-ERR syntax error\r\n"
        );
        assert_eq!(enc(&Reply::error("ERR a\r\nb"), Resp2), "-ERR a  b\r\n");
        assert_eq!(enc(&Reply::Integer(-3), Resp2), ":-3\r\n");
        assert_eq!(enc(&Reply::Bulk(b"hi".to_vec()), Resp3), "$2\r\nhi\r\n");
        assert_eq!(enc(&Reply::Null, Resp2), "$-1\r\n");
        assert_eq!(enc(&Reply::NullArray, Resp2), "*-1\r\n");
        assert_eq!(enc(&Reply::Null, Resp3), "_\r\n");
        let map = Reply::Map(vec![(Reply::Bulk(b"k".to_vec()), Reply::Integer(1))]);
        assert_eq!(enc(&map, Resp2), "*2\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(enc(&map, Resp3), "%1\r\n$1\r\nk\r\n:1\r\n");
        let set = Reply::Set(vec![Reply::Integer(1)]);
        assert_eq!(enc(&set, Resp2), "*1\r\n:1\r\n");
        assert_eq!(enc(&set, Resp3), "~1\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Resp3), ",1.5\r\n");
        assert_eq!(enc(&Reply::Double(3.0), Resp2), "$1\r\n3\r\n");
        assert_eq!(enc(&Reply::Double(f64::NEG_INFINITY), Resp3), ",-inf\r\n");
        assert_eq!(enc(&Reply::Boolean(true), Resp2), ":1\r\n");
        assert_eq!(enc(&Reply::Boolean(false), Resp3), "#f\r\n");
        assert_eq!(enc(&Reply::Verbatim("x".into()), Resp3), "=5\r\ntxt:x\r\n");
        assert_eq!(enc(&Reply::Verbatim("x".into()), Resp2), "$1\r\nx\r\n");
        let nested = Reply::Array(vec![Reply::Array(vec![]), Reply::Null]);
        assert_eq!(enc(&nested, Resp2), "*2\r\n*0\r\n$-1\r\n");
        assert_eq!(enc(&Reply::Push(vec![]), Resp3), ">0\r\n");
    }
}
