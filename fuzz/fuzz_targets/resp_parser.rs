//! Arbitrary bytes from a client: the RESP parser returns commands, asks for more, or reports a
//! protocol error; it never panics and never claims more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_server::resp::{Limits, Parser};

fuzz_target!(|data: &[u8]| {
    for unauthenticated in [false, true] {
        let parser = Parser::new(Limits {
            unauthenticated,
            ..Limits::default()
        });
        let mut rest = data;
        while let Ok(Some((_, used))) = parser.parse(rest) {
            assert!(used > 0 && used <= rest.len());
            rest = &rest[used..];
        }
    }
});
