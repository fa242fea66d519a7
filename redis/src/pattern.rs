//! Redis's glob-style patterns (`KEYS`, `SCAN MATCH`), byte for byte like Redis's
//! `stringmatchlen`: `*` any run of bytes, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` one byte of
//! (or not of) a set, `\x` the byte `x` itself. Matching is binary-safe and case-sensitive.

/// Whether `text` matches the glob `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    // Classic single-backtrack glob matching: only `*` matches a variable length, so on a
    // mismatch it is enough to let the most recent `*` swallow one more byte.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                _ => {
                    if let Some(next) = match_one(pattern, p, text[t]) {
                        p = next;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Matches the single-byte pattern element at `pattern[p]` (not `*`) against `c`; returns the
/// index after the element on a match.
fn match_one(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(p + 2),
        b'[' => {
            let mut i = p + 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut hit = false;
            // An unterminated class ends with the pattern (as in Redis).
            while let Some(&b) = pattern.get(i) {
                if b == b']' {
                    i += 1;
                    break;
                }
                if b == b'\\' && i + 1 < pattern.len() {
                    hit |= pattern[i + 1] == c;
                    i += 2;
                } else if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() {
                    let (lo, hi) = (b.min(pattern[i + 2]), b.max(pattern[i + 2]));
                    hit |= (lo..=hi).contains(&c);
                    i += 3;
                } else {
                    hit |= b == c;
                    i += 1;
                }
            }
            (hit != negate).then_some(i)
        }
        b => (b == c).then_some(p + 1),
    }
}

/// Whether `pattern` can only match keys that start with a fixed prefix, and which: lets
/// `KEYS foo:*` seek instead of walking the whole database.
pub(crate) fn literal_prefix(pattern: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' | b'?' | b'[' => break,
            b'\\' if i + 1 < pattern.len() => {
                out.push(pattern[i + 1]);
                i += 2;
            }
            b'\\' => break,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_examples() {
        // From the KEYS documentation.
        for (p, yes, no) in [
            (
                "h?llo",
                &["hello", "hallo", "hxllo"][..],
                &["hllo", "heello"][..],
            ),
            ("h*llo", &["hllo", "heeeello"], &["hello!"]),
            ("h[ae]llo", &["hello", "hallo"], &["hillo"]),
            ("h[^e]llo", &["hallo", "hbllo"], &["hello"]),
            ("h[a-b]llo", &["hallo", "hbllo"], &["hcllo"]),
            ("h[b-a]llo", &["hallo", "hbllo"], &["hcllo"]),
            ("*", &["", "anything"], &[]),
            ("a*b*c", &["abc", "aXbYc", "abbbc", "acbc"], &["ab", "acb"]),
            ("h\\*llo", &["h*llo"], &["hello"]),
            ("h[\\]]llo", &["h]llo"], &["hello"]),
            ("*.txt", &["a.txt", ".txt"], &["a.txtx"]),
            ("**a", &["a", "ba"], &["b"]),
            ("[abc", &["a", "b"], &["d", "ab"]),
            ("", &[""], &["a"]),
        ] {
            for y in yes {
                assert!(matches(p.as_bytes(), y.as_bytes()), "{p} should match {y}");
            }
            for n in no {
                assert!(
                    !matches(p.as_bytes(), n.as_bytes()),
                    "{p} should not match {n}"
                );
            }
        }
        assert!(matches(b"\xff*", b"\xff\x00\x01"));
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"a\\*b*"), b"a*b");
        assert_eq!(literal_prefix(b"*x"), b"");
        assert_eq!(literal_prefix(b"ab"), b"ab");
    }
}
