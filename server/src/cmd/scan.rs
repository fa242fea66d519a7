//! The cursor arguments and the reply shared by SCAN, HSCAN, SSCAN and ZSCAN.

use super::number::parse_i64;
use super::reply::{not_an_integer, syntax_error};
use crate::resp::Reply;

/// The reply of SCAN, HSCAN, SSCAN and ZSCAN: the next cursor and the items.
pub(super) fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(next.to_string().into_bytes()),
        Reply::Array(items),
    ])
}

/// The arguments of SCAN, HSCAN, SSCAN and ZSCAN.
#[derive(Debug)]
pub(super) struct ScanArgs<'a> {
    pub cursor: u64,
    /// `MATCH` (`*` is dropped: it matches everything).
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    /// `TYPE` (SCAN only).
    pub ty: Option<&'a [u8]>,
    /// Flags given, of those the command accepts (`NOVALUES`).
    pub flags: Vec<&'static [u8]>,
}

/// Parses `cursor [MATCH pattern] [COUNT count] [TYPE type]` plus the words in `flags`;
/// `TYPE` only if `allow_type`.
pub(super) fn parse_scan<'a>(
    args: &'a [Vec<u8>],
    flags: &[&'static [u8]],
    allow_type: bool,
) -> Result<ScanArgs<'a>, Reply> {
    let cursor = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
        ty: None,
        flags: Vec::new(),
    };
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_ascii_uppercase();
        if let Some(flag) = flags.iter().find(|f| **f == word.as_slice()) {
            out.flags.push(flag);
            i += 1;
            continue;
        }
        let Some(value) = args.get(i + 1) else {
            return Err(syntax_error());
        };
        match word.as_slice() {
            b"MATCH" => out.pattern = Some(value.as_slice()).filter(|p| *p != b"*"),
            b"COUNT" => match parse_i64(value) {
                None => return Err(not_an_integer()),
                Some(n) if n < 1 => return Err(syntax_error()),
                Some(n) => out.count = usize::try_from(n).unwrap_or(usize::MAX),
            },
            b"TYPE" if allow_type => out.ty = Some(value.as_slice()),
            _ => return Err(syntax_error()),
        }
        i += 2;
    }
    Ok(out)
}
