//! The cursor arguments and the reply shared by SCAN, HSCAN, SSCAN and ZSCAN.

use super::args::Args;
use super::reply::syntax_error;
use crate::resp::Reply;
use strata_redis::ElementScan;

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
    pub flags: Vec<&'static str>,
}

impl<'a> ScanArgs<'a> {
    /// The step of an element scan (HSCAN, SSCAN, ZSCAN) these arguments ask for.
    pub(super) fn step(&self) -> ElementScan<'a> {
        ElementScan {
            cursor: self.cursor,
            pattern: self.pattern,
            count: self.count,
        }
    }
}

/// Reads `cursor [MATCH pattern] [COUNT count] [TYPE type]` plus the words in `flags`;
/// `TYPE` only if `allow_type`.
pub(super) fn parse_scan<'a>(
    a: &mut Args<'a>,
    flags: &[&'static str],
    allow_type: bool,
) -> Result<ScanArgs<'a>, Reply> {
    let cursor = std::str::from_utf8(a.next_bytes()?)
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
    while !a.is_empty() {
        if let Some(flag) = a.eat_keyword(flags) {
            out.flags.push(flag);
            continue;
        }
        match a.next_keyword(&["MATCH", "COUNT", "TYPE"])? {
            Some("MATCH") => out.pattern = Some(a.next_bytes()?).filter(|p| *p != b"*"),
            Some("COUNT") => match a.next_i64()? {
                n if n < 1 => return Err(syntax_error()),
                n => out.count = usize::try_from(n).unwrap_or(usize::MAX),
            },
            Some("TYPE") if allow_type => out.ty = Some(a.next_bytes()?),
            // An unknown word, with or without a value after it.
            _ => return Err(syntax_error()),
        }
    }
    Ok(out)
}
