//! The table's bloom filter over user keys.
//!
//! ```text
//! filter_block := bloomfilter 3.x serialization (`Bloom::to_bytes`):
//!                 version: u8 (= 1)  bitmap_len: fixed64  k_num: fixed32  seed: byte[32]
//!                 bitmap: byte[bitmap_len]
//! ```
//! One filter per table, over the distinct user keys (consecutive duplicates are added
//! once). `bitmap_len = ceil(num_keys * bits_per_key / 8)`; the seed is [`FIXED_SEED`] so
//! identical inputs produce identical files. Each key is hashed as its raw bytes only (no
//! length prefix, no platform-width integers), so filters are portable.

use std::hash::{Hash, Hasher};

use bloomfilter::Bloom;

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

/// A user key as hashed into the filter: its bytes, nothing else.
struct FilterKey<'a>(&'a [u8]);

impl Hash for FilterKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// Collects user keys until the table is finished, then builds the filter.
///
/// Keys are buffered because the bitmap size depends on the final key count.
#[derive(Debug)]
pub(crate) struct FilterBuilder {
    bits_per_key: u32,
    /// All distinct keys, concatenated.
    keys: Vec<u8>,
    /// End offset of each key in `keys`.
    ends: Vec<usize>,
}

impl FilterBuilder {
    pub(crate) fn new(bits_per_key: u32) -> Self {
        FilterBuilder {
            bits_per_key,
            keys: Vec::new(),
            ends: Vec::new(),
        }
    }

    fn last_key(&self) -> Option<&[u8]> {
        let end = *self.ends.last()?;
        let start = self
            .ends
            .len()
            .checked_sub(2)
            .and_then(|i| self.ends.get(i).copied())
            .unwrap_or(0);
        self.keys.get(start..end)
    }

    /// Adds a user key (a repeat of the previous key is skipped).
    pub(crate) fn add(&mut self, user_key: &[u8]) {
        if self.bits_per_key == 0 || self.last_key() == Some(user_key) {
            return;
        }
        self.keys.extend_from_slice(user_key);
        self.ends.push(self.keys.len());
    }

    /// The serialized filter, or `None` if filtering is off or no key was added.
    pub(crate) fn finish(self) -> Option<Vec<u8>> {
        let n = self.ends.len();
        if self.bits_per_key == 0 || n == 0 {
            return None;
        }
        let bits = (n as u64).saturating_mul(u64::from(self.bits_per_key));
        let bitmap_len = usize::try_from(bits.div_ceil(8)).ok()?.max(1);
        let mut bloom: Bloom<FilterKey<'_>> =
            Bloom::new_with_seed(bitmap_len, n, &FIXED_SEED).ok()?;
        let mut start = 0;
        for &end in &self.ends {
            if let Some(key) = self.keys.get(start..end) {
                bloom.set(&FilterKey(key));
            }
            start = end;
        }
        Some(bloom.to_bytes())
    }
}

/// A loaded filter.
pub(crate) struct Filter {
    bloom: Bloom<FilterKey<'static>>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("bits", &self.bloom.len())
            .field("hashes", &self.bloom.number_of_hash_functions())
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
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Filter, &'static str> {
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
        let bloom = Bloom::from_slice(bytes).map_err(|_| "malformed filter block")?;
        Ok(Filter { bloom })
    }

    /// Bytes this filter holds in memory, for the cache's budget.
    pub(crate) fn charge(&self) -> u64 {
        self.bloom.len() / 8 + (HEADER_LEN + std::mem::size_of::<Filter>()) as u64
    }

    /// False if `user_key` was certainly not added.
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        // `Bloom` is covariant in its item type, so the 'static filter checks shorter keys.
        let bloom: &Bloom<FilterKey<'_>> = &self.bloom;
        bloom.check(&FilterKey(user_key))
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
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<Vec<u8>> = (0..10_000u32)
            .map(|i| format!("key{i}").into_bytes())
            .collect();
        let bytes = build(&keys, 10).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 12_500);
        let f = Filter::from_bytes(&bytes).unwrap();
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
        assert!(Filter::from_bytes(&one).unwrap().may_contain(b""));
    }

    #[test]
    fn garbage_never_panics() {
        assert!(Filter::from_bytes(&[]).is_err());
        let mut zero_bitmap = vec![0u8; HEADER_LEN];
        zero_bitmap[0] = 1;
        zero_bitmap[9] = 3;
        assert!(Filter::from_bytes(&zero_bitmap).is_err());
        let mut good = build(&[b"x".to_vec()], 10).unwrap();
        good[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Filter::from_bytes(&good).is_err());
        let good = build(&[b"x".to_vec()], 10).unwrap();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                if let Ok(f) = Filter::from_bytes(&bad) {
                    let _ = f.may_contain(b"x");
                    let _ = f.may_contain(b"y");
                }
            }
        }
    }
}
