//! The table's bloom filter over user keys.
//!
//! ```text
//! filter_block := bloomfilter 3.x serialization (`Bloom::to_bytes`):
//!                 version: u8 (= 1)  bitmap_len: fixed64  k_num: fixed32  seed: byte[32]
//!                 bitmap: byte[bitmap_len]
//! ```
//! One filter per table, over the distinct user keys (consecutive duplicates are added
//! once). `bitmap_len = ceil(num_keys * bits_per_key / 8)`; the seed is [`FIXED_SEED`] so
//! identical inputs produce identical files. What is added for a key depends on the table
//! format version ([`FilterKeys`]): since version 2, the 8 little-endian bytes of the key's
//! SipHash-1-3 under [`KEY_HASH_KEYS`], so a builder buffers 8 bytes per key however long
//! the keys are; in version 1, the key's raw bytes. Both are portable (no length prefix, no
//! platform-width integers).

use std::hash::{Hash, Hasher};

use bloomfilter::Bloom;
use siphasher::sip::SipHasher13;

/// The seed of every filter this crate writes. DO NOT CHANGE: existing filters record
/// their seed, but deterministic output depends on this value.
pub(crate) const FIXED_SEED: [u8; 32] = *b"strata-sstable bloom filter v1.0";

/// Most bits per key a table may use (keeps the hash count small).
pub(crate) const MAX_BITS_PER_KEY: u32 = 64;

/// Most hash functions a reader accepts from a file.
const MAX_HASHES: u32 = 128;

/// Size of the bloomfilter crate's header.
const HEADER_LEN: usize = 1 + 8 + 4 + 32;

/// The version byte of the bloomfilter crate's serialization.
const BLOOM_VERSION: u8 = 1;

/// The SipHash-1-3 keys of a user key's 64-bit filter hash (format version 2). DO NOT
/// CHANGE: every version 2 filter depends on them.
pub(crate) const KEY_HASH_KEYS: (u64, u64) = (0x7374_7261_7461_2d66, 0x696c_7465_722d_7632);

/// What a filter was built over, by table format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FilterKeys {
    /// Format version 1: the user key's bytes.
    Raw,
    /// Format version 2 on: the user key's 64-bit hash ([`key_hash`]), 8 bytes little endian.
    Hashed,
}

/// A user key's 64-bit filter hash.
pub(crate) fn key_hash(user_key: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(KEY_HASH_KEYS.0, KEY_HASH_KEYS.1);
    h.write(user_key);
    h.finish()
}

/// What a version 1 filter hashes: the user key's bytes, nothing else.
pub(crate) struct FilterKey<'a>(&'a [u8]);

impl Hash for FilterKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// What a version 2 filter hashes: the key's [`key_hash`] as 8 little-endian bytes.
pub(crate) struct HashedKey(u64);

impl Hash for HashedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0.to_le_bytes());
    }
}

/// Hashes a [`FilterBuilder`] keeps per buffer chunk (512 KiB), so a large table's buffer
/// grows without reallocating and copying what it holds. A power of two: the first chunk
/// grows by doubling up to exactly this capacity.
const HASHES_PER_CHUNK: usize = 1 << 16;

/// Collects the hashes of the user keys until the table is finished, then builds the filter
/// (version 2 format).
///
/// Hashes are buffered because the bitmap size depends on the final key count: 8 bytes per
/// distinct key (a 64 MiB table of 100-byte entries buffers about 4.5 MiB; one of small,
/// well-compressed entries, many times that), in fixed-size chunks.
#[derive(Debug)]
pub(crate) struct FilterBuilder {
    bits_per_key: u32,
    /// The hash of each distinct key, in order, [`HASHES_PER_CHUNK`] per chunk.
    chunks: Vec<Vec<u64>>,
    /// Hashes added.
    len: usize,
    /// The last key added, to skip its repeats.
    last_key: Vec<u8>,
}

impl FilterBuilder {
    pub(crate) fn new(bits_per_key: u32) -> Self {
        FilterBuilder {
            bits_per_key,
            chunks: Vec::new(),
            len: 0,
            last_key: Vec::new(),
        }
    }

    /// Adds a user key (a repeat of the previous key is skipped).
    pub(crate) fn add(&mut self, user_key: &[u8]) {
        if self.bits_per_key == 0 || (self.len > 0 && self.last_key == user_key) {
            return;
        }
        let hash = key_hash(user_key);
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < HASHES_PER_CHUNK => chunk.push(hash),
            _ => {
                // The first chunk grows as needed (a small table stays small); later ones
                // are allocated whole.
                let mut chunk = match self.chunks.is_empty() {
                    true => Vec::new(),
                    false => Vec::with_capacity(HASHES_PER_CHUNK),
                };
                chunk.push(hash);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        self.last_key.clear();
        self.last_key.extend_from_slice(user_key);
    }

    /// The filter's bitmap length for `n` keys.
    fn bitmap_len(&self, n: usize) -> Option<usize> {
        let bits = (n as u64).saturating_mul(u64::from(self.bits_per_key));
        Some(usize::try_from(bits.div_ceil(8)).ok()?.max(1))
    }

    /// Heap bytes the builder holds now.
    pub(crate) fn memory_usage(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<u64>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<u64>>()
            + self.last_key.capacity()
    }

    /// Heap bytes [`finish`](Self::finish) holds at its peak: the buffered hashes and the
    /// bitmap, then the bitmap and its serialized copy.
    pub(crate) fn finish_memory_usage(&self) -> usize {
        let bitmap = match self.bits_per_key {
            0 => 0,
            _ => self.bitmap_len(self.len).unwrap_or(0) + HEADER_LEN,
        };
        (self.memory_usage() + bitmap).max(2 * bitmap)
    }

    /// The serialized filter, or `None` if filtering is off or no key was added.
    pub(crate) fn finish(self) -> Option<Vec<u8>> {
        let n = self.len;
        if self.bits_per_key == 0 || n == 0 {
            return None;
        }
        let bitmap_len = self.bitmap_len(n)?;
        let mut bloom: Bloom<HashedKey> = Bloom::new_with_seed(bitmap_len, n, &FIXED_SEED).ok()?;
        for &h in self.chunks.iter().flatten() {
            bloom.set(&HashedKey(h));
        }
        drop(self.chunks);
        Some(bloom.to_bytes())
    }
}

/// A loaded filter.
pub(crate) enum Filter {
    /// Format version 1.
    Raw(Bloom<FilterKey<'static>>),
    /// Format version 2 on.
    Hashed(Bloom<HashedKey>),
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (bits, hashes) = match self {
            Filter::Raw(b) => (b.len(), b.number_of_hash_functions()),
            Filter::Hashed(b) => (b.len(), b.number_of_hash_functions()),
        };
        f.debug_struct("Filter")
            .field("keys", &self.keys())
            .field("bits", &bits)
            .field("hashes", &hashes)
            .finish()
    }
}

impl Filter {
    /// Parses a serialized filter. Everything the bloomfilter crate would trip over (an
    /// empty bitmap divides by zero; a huge hash count makes lookups crawl) is checked first.
    ///
    /// # Errors
    ///
    /// Returns a reason string if the bytes are not a valid filter.
    pub(crate) fn from_bytes(bytes: &[u8], keys: FilterKeys) -> Result<Filter, &'static str> {
        let header = bytes.get(..HEADER_LEN).ok_or("filter block too short")?;
        if header.first() != Some(&BLOOM_VERSION) {
            return Err("unknown filter version");
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(header.get(1..9).ok_or("filter block too short")?);
        let mut k = [0u8; 4];
        k.copy_from_slice(header.get(9..13).ok_or("filter block too short")?);
        let bitmap_len = u64::from_le_bytes(len);
        let k_num = u32::from_le_bytes(k);
        if bitmap_len == 0 || bitmap_len != (bytes.len() - HEADER_LEN) as u64 {
            return Err("filter bitmap length mismatch");
        }
        if k_num == 0 || k_num > MAX_HASHES {
            return Err("bad filter hash count");
        }
        let malformed = |_| "malformed filter block";
        Ok(match keys {
            FilterKeys::Raw => Filter::Raw(Bloom::from_slice(bytes).map_err(malformed)?),
            FilterKeys::Hashed => Filter::Hashed(Bloom::from_slice(bytes).map_err(malformed)?),
        })
    }

    /// What the filter was built over.
    fn keys(&self) -> FilterKeys {
        match self {
            Filter::Raw(_) => FilterKeys::Raw,
            Filter::Hashed(_) => FilterKeys::Hashed,
        }
    }

    /// Bytes this filter holds in memory, for the cache's budget.
    pub(crate) fn charge(&self) -> u64 {
        let bits = match self {
            Filter::Raw(b) => b.len(),
            Filter::Hashed(b) => b.len(),
        };
        bits / 8 + (HEADER_LEN + std::mem::size_of::<Filter>()) as u64
    }

    /// False if `user_key` was certainly not added.
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        match self {
            Filter::Raw(bloom) => {
                // `Bloom` is covariant in its item type, so the 'static filter checks
                // shorter-lived keys.
                let bloom: &Bloom<FilterKey<'_>> = bloom;
                bloom.check(&FilterKey(user_key))
            }
            Filter::Hashed(bloom) => bloom.check(&HashedKey(key_hash(user_key))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(keys: &[Vec<u8>], bits: u32) -> Option<Vec<u8>> {
        let mut b = FilterBuilder::new(bits);
        for k in keys {
            b.add(k);
        }
        b.finish()
    }

    #[test]
    fn the_buffer_grows_with_the_keys_in_chunks() {
        let mut b = FilterBuilder::new(10);
        b.add(b"only");
        assert!(b.memory_usage() < 1024, "{}", b.memory_usage());
        let n = 3 * HASHES_PER_CHUNK + 5;
        for i in 0..n {
            b.add(&(i as u64).to_be_bytes());
        }
        assert_eq!(b.chunks.len(), 4);
        assert!(b.chunks.iter().all(|c| c.capacity() == HASHES_PER_CHUNK));
        let usage = b.memory_usage();
        assert!(
            usage >= 8 * (n + 1) && usage <= 8 * 4 * HASHES_PER_CHUNK + 1024,
            "{usage}"
        );
        assert!(b.finish_memory_usage() > usage);
        let filter = Filter::from_bytes(&b.finish().unwrap(), FilterKeys::Hashed).unwrap();
        assert!((0..n).all(|i| filter.may_contain(&(i as u64).to_be_bytes())));
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<Vec<u8>> = (0..10_000u32)
            .map(|i| format!("key{i}").into_bytes())
            .collect();
        let bytes = build(&keys, 10).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 12_500);
        let f = Filter::from_bytes(&bytes, FilterKeys::Hashed).unwrap();
        for k in &keys {
            assert!(f.may_contain(k));
        }
        let fp = (0..10_000u32)
            .filter(|i| f.may_contain(format!("absent{i}").as_bytes()))
            .count();
        assert!(fp < 300, "false positive rate too high: {fp}/10000");
    }

    #[test]
    fn deterministic_and_deduplicated() {
        let keys = vec![b"a".to_vec(), b"a".to_vec(), b"b".to_vec()];
        let a = build(&keys, 10).unwrap();
        let b = build(&[b"a".to_vec(), b"b".to_vec()], 10).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), HEADER_LEN + 3);
    }

    #[test]
    fn disabled_or_empty() {
        assert!(build(&[b"a".to_vec()], 0).is_none());
        assert!(build(&[], 10).is_none());
        let one = build(&[Vec::new()], 1).unwrap();
        assert!(Filter::from_bytes(&one, FilterKeys::Hashed)
            .unwrap()
            .may_contain(b""));
    }

    #[test]
    fn garbage_never_panics() {
        assert!(Filter::from_bytes(&[], FilterKeys::Hashed).is_err());
        let mut zero_bitmap = vec![0u8; HEADER_LEN];
        zero_bitmap[0] = 1;
        zero_bitmap[9] = 3;
        assert!(Filter::from_bytes(&zero_bitmap, FilterKeys::Hashed).is_err());
        let mut good = build(&[b"x".to_vec()], 10).unwrap();
        good[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Filter::from_bytes(&good, FilterKeys::Hashed).is_err());
        let good = build(&[b"x".to_vec()], 10).unwrap();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                if let Ok(f) = Filter::from_bytes(&bad, FilterKeys::Hashed) {
                    let _ = f.may_contain(b"x");
                    let _ = f.may_contain(b"y");
                }
            }
        }
    }

    #[test]
    fn version_1_filters_over_raw_keys_still_read() {
        // What a version 1 writer produced: the raw keys into the same bloom filter.
        let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| format!("k{i}").into_bytes()).collect();
        let mut bloom: Bloom<FilterKey<'_>> =
            Bloom::new_with_seed(1250, keys.len(), &FIXED_SEED).unwrap();
        for k in &keys {
            bloom.set(&FilterKey(k));
        }
        let bytes = bloom.to_bytes();
        let raw = Filter::from_bytes(&bytes, FilterKeys::Raw).unwrap();
        assert!(keys.iter().all(|k| raw.may_contain(k)));
        let misread = Filter::from_bytes(&bytes, FilterKeys::Hashed).unwrap();
        let agree = keys.iter().filter(|k| misread.may_contain(k)).count();
        assert!(
            agree < 100,
            "the two key forms hash differently ({agree} agree)"
        );
    }

    #[test]
    fn hashed_filters_are_pinned() {
        // The bytes of a version 2 filter may never change: old tables depend on them.
        assert_eq!(
            (key_hash(b""), key_hash(b"strata")),
            (2_133_207_309_060_670_089, 4_819_687_632_665_496_723)
        );
        let keys: Vec<Vec<u8>> = (0..100u32).map(|i| format!("k{i}").into_bytes()).collect();
        let bytes = build(&keys, 10).unwrap();
        let crc = crc32fast::hash(&bytes);
        assert_eq!(crc, 0xafdf_f8e9, "filter bytes changed: crc {crc:#x}");
    }
}
