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
        split in any::<prop::sample::Index>(),
    ) {
        let mut wire = Vec::new();
        for c in &cmds {
            wire.extend(encode(c));
        }
        // Feed the bytes in two reads, cut anywhere.
        let cut = split.index(wire.len() + 1);
        let parser = Parser::default();
        let mut buf = wire[..cut].to_vec();
        let mut got = Vec::new();
        let mut feed_rest = Some(&wire[cut..]);
        loop {
            match parser.parse(&buf).expect("valid input") {
                Some((args, used)) => {
                    got.push(args);
                    buf.drain(..used);
                }
                None => match feed_rest.take() {
                    Some(rest) => buf.extend_from_slice(rest),
                    None => break,
                },
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let parser = Parser::default();
        let mut buf = bytes;
        // Consume as long as commands parse; an error or a need for more ends it.
        while let Ok(Some((_, used))) = parser.parse(&buf) {
            prop_assert!(used > 0 && used <= buf.len());
            buf.drain(..used);
        }
    }
}
