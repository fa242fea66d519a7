//! The state of one connection that commands read and change: the selected database, the
//! protocol, authentication, and a blocked command waiting for data.

use std::sync::Arc;

use crate::blocking::Blocked;
use crate::resp::Protocol;
use crate::server::Client;

/// Per-connection state commands can change.
#[derive(Debug)]
pub struct Session {
    /// The selected database (`SELECT`).
    pub db: u8,
    /// Close the connection after this reply (`QUIT`, `CLIENT KILL` of itself).
    pub quit: bool,
    /// The protocol replies are written in (`HELLO`).
    pub protocol: Protocol,
    /// `AUTH` succeeded, or no password is required.
    pub authenticated: bool,
    /// The registry entry of this connection.
    pub client: Arc<Client>,
    /// Set by a blocking command that found no data: the connection waits, then replies.
    pub blocked: Option<Blocked>,
}

impl Session {
    /// A new connection's session.
    pub fn new(client: Arc<Client>, authenticated: bool) -> Self {
        Session {
            db: 0,
            quit: false,
            protocol: Protocol::Resp2,
            authenticated,
            client,
            blocked: None,
        }
    }
}
