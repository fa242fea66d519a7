//! Arbitrary bytes from a client: the RESP parser returns commands, asks for more, or reports a
//! protocol error; it never panics, never claims more bytes than it was given, and gives the
//! same commands whether the bytes arrive at once or one by one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_server::resp::{Limits, Parser};

fuzz_target!(|data: &[u8]| {
    for unauthenticated in [false, true] {
        let limits = Limits {
            unauthenticated,
            ..Limits::default()
        };
        // Whole: every command the buffer holds.
        let mut parser = Parser::new(limits);
        let mut rest = data;
        let mut whole = Vec::new();
        let whole_end = loop {
            match parser.parse(rest) {
                Ok(Some((args, used))) => {
                    assert!(used > 0 && used <= rest.len());
                    whole.push(args);
                    rest = &rest[used..];
                }
                other => break other.map(|_| ()),
            }
        };
        // Byte by byte, resuming half-parsed requests: the same commands, the same outcome.
        let mut parser = Parser::new(limits);
        let mut buf = Vec::new();
        let mut split = Vec::new();
        let mut split_end = Ok(());
        'feed: for &b in data {
            buf.push(b);
            loop {
                match parser.parse(&buf) {
                    Ok(Some((args, used))) => {
                        split.push(args);
                        buf.drain(..used);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        split_end = Err(e);
                        break 'feed;
                    }
                }
            }
        }
        assert_eq!(whole, split);
        assert_eq!(whole_end, split_end);
    }
});
