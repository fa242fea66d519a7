//! The state of one connection that commands read and change: the selected database, the
//! protocol, authentication, the client's name, and a blocked command waiting for data.

use std::sync::Arc;

use crate::blocking::Blocked;
use crate::cmd::Multi;
use crate::resp::{Protocol, Reply};
use crate::server::Client;
use crate::watch::Watch;

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
    /// A write command ran since the replies were last sent: they must not leave before what
    /// they acknowledge is persisted.
    pub wrote: bool,
    /// The error reply the command just made was counted already (a script's error raised
    /// from a command it called).
    pub error_counted: bool,
    /// The session a script's commands run on (Redis's `CLIENT_SCRIPT`).
    pub in_script: bool,
    /// `CLIENT REPLY OFF`: no reply is sent.
    pub reply_off: bool,
    /// `CLIENT REPLY SKIP` was the last command: the next one's reply is not sent.
    pub reply_skip_next: bool,
    /// This command's reply is not sent (`CLIENT REPLY SKIP` before it).
    pub reply_skip: bool,
    /// The transaction being queued (`MULTI`).
    pub multi: Option<Multi>,
    /// The keys watched (`WATCH`), until EXEC, DISCARD, UNWATCH or RESET.
    pub watch: Option<Watch>,
    /// The connection subscribes or monitors: messages may wait in its outbox.
    pub pushes: bool,
    /// `CLIENT TRACKING` is on (its mode is on the client's registry entry).
    pub tracking: bool,
    /// The ACL user it acts as (`default` until AUTH names another).
    pub user_name: String,
    /// That user as of ACL change `acl_version` (reloaded when the ACL changes).
    pub user: Option<Arc<crate::acl::User>>,
    /// The ACL change count `user` was read at (0: never).
    pub acl_version: u64,
    /// `user` may do everything: no check per command.
    pub unrestricted: bool,
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
            wrote: false,
            error_counted: false,
            in_script: false,
            reply_off: false,
            reply_skip_next: false,
            reply_skip: false,
            multi: None,
            watch: None,
            pushes: false,
            tracking: false,
            user_name: "default".into(),
            user: None,
            acl_version: 0,
            unrestricted: false,
        }
    }

    /// Names the connection (`CLIENT SETNAME`, `HELLO ... SETNAME`).
    ///
    /// # Errors
    /// Redis's error reply if the name is not a [`valid_client_name`].
    pub(crate) fn set_name(&self, name: &[u8]) -> Result<(), Reply> {
        if !valid_client_name(name) {
            return Err(Reply::error(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        if let Ok(mut n) = self.client.name.lock() {
            *n = String::from_utf8_lossy(name).into_owned();
        }
        Ok(())
    }
}

/// Client names may not hold spaces, newlines or other special characters.
pub(crate) fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}
