//! The request parser against generated input: round trips, split reads, garbage.

use proptest::prelude::*;
use strata_server::resp::Parser;

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

proptest! {
    #[test]
    fn pipelined_commands_round_trip_in_any_split(
        cmds in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), 1..8),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for c in &cmds {
            wire.extend(encode(c));
        }
        // Feed the bytes in reads cut anywhere; the parser resumes half-parsed requests.
        let mut cuts: Vec<usize> = splits.iter().map(|s| s.index(wire.len() + 1)).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut parser = Parser::default();
        let mut reads = cuts.iter().scan(0, |from, &to| {
            let chunk = &wire[*from..to];
            *from = to;
            Some(chunk)
        });
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            match parser.parse(&buf).expect("valid input") {
                Some((args, used)) => {
                    got.push(args);
                    buf.drain(..used);
                }
                None => match reads.next() {
                    Some(chunk) => buf.extend_from_slice(chunk),
                    None => break,
                },
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut parser = Parser::default();
        let mut buf = bytes;
        // Consume as long as commands parse; an error or a need for more ends it.
        while let Ok(Some((_, used))) = parser.parse(&buf) {
            prop_assert!(used > 0 && used <= buf.len());
            buf.drain(..used);
        }
    }
}

/// A request with many arguments arriving in small reads parses once, whole and in order.
#[test]
fn a_huge_request_in_small_reads() {
    let args: Vec<Vec<u8>> = (0..100_000u32)
        .map(|i| i.to_string().into_bytes())
        .collect();
    let wire = encode(&args);
    let mut parser = Parser::default();
    let mut buf = Vec::new();
    let mut parsed = None;
    for chunk in wire.chunks(1000) {
        buf.extend_from_slice(chunk);
        if let Some((got, used)) = parser.parse(&buf).unwrap() {
            assert_eq!(used, wire.len());
            parsed = Some(got);
        }
    }
    assert_eq!(parsed, Some(args));
}
