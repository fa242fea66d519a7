//! The 5-byte trailer after every stored block, and block compression.
//!
//! ```text
//! stored_block := contents: byte[size]  compression: u8  crc: fixed32
//! crc          := mask(crc32(contents ++ compression))
//! contents     := block                                   (compression = 0, none)
//!               | uncompressed_len: varint32 zstd_frame   (compression = 1, zstd)
//! ```
//! A block is stored compressed only if that saves at least 12.5% (LevelDB's rule).

use std::borrow::Cow;
use std::cell::RefCell;

use super::Location;
use crate::checksum::masked_crc;
use crate::error::Result;
use crate::table::Compression;
use crate::varint::{get_varint32, put_varint32};

/// Bytes after every stored block.
pub(crate) const BLOCK_TRAILER_LEN: usize = 5;

/// Compression byte: stored as is. DO NOT CHANGE: on disk.
pub(crate) const COMPRESSION_NONE: u8 = 0;
/// Compression byte: zstd frame after a varint32 uncompressed length. DO NOT CHANGE: on disk.
pub(crate) const COMPRESSION_ZSTD: u8 = 1;

/// Largest uncompressed length a reader accepts; anything above is corruption.
pub(crate) const MAX_UNCOMPRESSED_LEN: usize = 256 << 20;

thread_local! {
    /// Each thread's zstd compression context and its level: creating a context per block
    /// cost more than compressing it (the server's profile: `ZSTD_createCCtx` 6%).
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    /// Each thread's zstd decompression context.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Runs `f` with this thread's compressor at `level`.
fn with_compressor<T>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(std::io::Error::other)?;
        match slot.as_mut() {
            Some((l, c)) if *l == level => f(c),
            Some((l, c)) => {
                c.set_compression_level(level)?;
                *l = level;
                f(c)
            }
            None => f(&mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1),
        }
    })
}

/// Runs `f` with this thread's decompressor.
fn with_decompressor<T>(
    f: impl FnOnce(&mut zstd::bulk::Decompressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(std::io::Error::other)?;
        match slot.as_mut() {
            Some(d) => f(d),
            None => f(slot.insert(zstd::bulk::Decompressor::new()?)),
        }
    })
}

/// Encodes `raw` for storage: `(contents, compression byte)`.
///
/// # Errors
///
/// Returns an I/O error if zstd fails.
pub(crate) fn compress(raw: &[u8], compression: Compression) -> Result<(Cow<'_, [u8]>, u8)> {
    match compression {
        Compression::None => Ok((Cow::Borrowed(raw), COMPRESSION_NONE)),
        Compression::Zstd(level) => {
            let Ok(raw_len) = u32::try_from(raw.len()) else {
                return Ok((Cow::Borrowed(raw), COMPRESSION_NONE));
            };
            if raw.len() > MAX_UNCOMPRESSED_LEN {
                return Ok((Cow::Borrowed(raw), COMPRESSION_NONE));
            }
            let frame = with_compressor(level, |c| c.compress(raw))?;
            let mut out = Vec::with_capacity(frame.len() + 5);
            put_varint32(&mut out, raw_len);
            out.extend_from_slice(&frame);
            if out.len() < raw.len() - raw.len() / 8 {
                Ok((Cow::Owned(out), COMPRESSION_ZSTD))
            } else {
                Ok((Cow::Borrowed(raw), COMPRESSION_NONE))
            }
        }
    }
}

/// The trailer for `contents` stored with `compression`.
pub(crate) fn trailer(contents: &[u8], compression: u8) -> [u8; BLOCK_TRAILER_LEN] {
    let crc = masked_crc(&[contents, &[compression]]);
    let mut t = [0u8; BLOCK_TRAILER_LEN];
    t[0] = compression;
    t[1..].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Verifies the trailer of `stored` (contents followed by the trailer) and returns the
/// block: borrowed from `stored` if it was stored uncompressed, decompressed otherwise.
///
/// # Errors
///
/// Returns [`crate::Error::Corruption`] at `loc` on a checksum mismatch, an unknown compression
/// byte or a bad zstd frame.
pub(crate) fn decode<'a>(stored: &'a [u8], loc: &Location) -> Result<Cow<'a, [u8]>> {
    let split = stored
        .len()
        .checked_sub(BLOCK_TRAILER_LEN)
        .ok_or_else(|| loc.corruption("truncated block read"))?;
    let (contents, tail) = stored.split_at(split);
    let (compression, crc_bytes) = tail
        .split_first()
        .ok_or_else(|| loc.corruption("truncated block read"))?;
    let stored_crc = u32::from_le_bytes(
        crc_bytes
            .try_into()
            .map_err(|_| loc.corruption("truncated block read"))?,
    );
    if masked_crc(&[contents, &[*compression]]) != stored_crc {
        return Err(loc.corruption("block checksum mismatch"));
    }
    match *compression {
        COMPRESSION_NONE => Ok(Cow::Borrowed(contents)),
        COMPRESSION_ZSTD => decompress_zstd(contents, loc).map(Cow::Owned),
        other => Err(loc.corruption(format!("unknown block compression type {other}"))),
    }
}

fn decompress_zstd(contents: &[u8], loc: &Location) -> Result<Vec<u8>> {
    let (len, n) = get_varint32(contents)
        .ok_or_else(|| loc.corruption("bad uncompressed length in zstd block"))?;
    let len = len as usize;
    if len > MAX_UNCOMPRESSED_LEN {
        return Err(loc.corruption(format!(
            "zstd block claims {len} uncompressed bytes (limit {MAX_UNCOMPRESSED_LEN})"
        )));
    }
    let frame = contents.get(n..).unwrap_or_default();
    let out = with_decompressor(|d| d.decompress(frame, len))
        .map_err(|e| loc.corruption(format!("zstd decompression failed: {e}")))?;
    if out.len() != len {
        return Err(loc.corruption("zstd block uncompressed length mismatch"));
    }
    Ok(out)
}
