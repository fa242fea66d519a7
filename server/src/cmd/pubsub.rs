//! Pub/Sub commands (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH,
//! SPUBLISH, PUBSUB) and MONITOR, over `crate::pubsub`.

use super::reply::{bulk, help, unknown_subcommand, wrong_arity, CmdResult};
use crate::pubsub::{Kind, PubSub};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// One (un)subscribe confirmation: `[word, name or nil, count]`.
fn confirmation(session: &Session, kind: Kind, word: &str, name: Option<&[u8]>) -> Reply {
    Reply::Push(vec![
        bulk(word),
        name.map_or(Reply::Null, |n| Reply::Bulk(n.to_vec())),
        Reply::Integer(PubSub::reply_count(&session.client, kind)),
    ])
}

fn subscribe_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    kind: Kind,
) -> Reply {
    let word = kind.words().0;
    let replies = args
        .iter()
        .map(|name| {
            server.pubsub.subscribe(&session.client, kind, name);
            confirmation(session, kind, word, Some(name))
        })
        .collect();
    session.pushes = true;
    Reply::Several(replies)
}

fn unsubscribe_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    kind: Kind,
) -> Reply {
    let word = kind.words().1;
    let names = if args.is_empty() {
        server.pubsub.subscriptions(&session.client, kind)
    } else {
        args.to_vec()
    };
    let mut replies: Vec<Reply> = names
        .iter()
        .map(|name| {
            server.pubsub.unsubscribe(&session.client, kind, name);
            confirmation(session, kind, word, Some(name))
        })
        .collect();
    if replies.is_empty() {
        replies.push(confirmation(session, kind, word, None));
    }
    session.pushes = session.client.outbox.active();
    Reply::Several(replies)
}

/// `SUBSCRIBE channel [channel ...]`.
pub(super) fn subscribe(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    Ok(subscribe_generic(server, session, args, Kind::Channel))
}

/// `PSUBSCRIBE pattern [pattern ...]`.
pub(super) fn psubscribe(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    Ok(subscribe_generic(server, session, args, Kind::Pattern))
}

/// `SSUBSCRIBE shardchannel [shardchannel ...]`.
pub(super) fn ssubscribe(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    Ok(subscribe_generic(server, session, args, Kind::Shard))
}

/// `UNSUBSCRIBE [channel ...]`.
pub(super) fn unsubscribe(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    Ok(unsubscribe_generic(server, session, args, Kind::Channel))
}

/// `PUNSUBSCRIBE [pattern ...]`.
pub(super) fn punsubscribe(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    Ok(unsubscribe_generic(server, session, args, Kind::Pattern))
}

/// `SUNSUBSCRIBE [shardchannel ...]`.
pub(super) fn sunsubscribe(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    Ok(unsubscribe_generic(server, session, args, Kind::Shard))
}

/// `PUBLISH channel message`: how many subscribers got it.
pub(super) fn publish(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let n = server.pubsub.publish(Kind::Channel, &args[0], &args[1]);
    Ok(Reply::Integer(n as i64))
}

/// `SPUBLISH shardchannel message`.
pub(super) fn spublish(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let n = server.pubsub.publish(Kind::Shard, &args[0], &args[1]);
    Ok(Reply::Integer(n as i64))
}

/// `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP`.
pub(super) fn pubsub(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    let list = |kind: Kind| -> CmdResult {
        if rest.len() > 1 {
            return Err(wrong_arity(&format!(
                "pubsub|{}",
                String::from_utf8_lossy(&sub)
            )));
        }
        Ok(Reply::Array(
            server
                .pubsub
                .channels(kind, rest.first().map(Vec::as_slice))
                .into_iter()
                .map(Reply::Bulk)
                .collect(),
        ))
    };
    let numsub = |kind: Kind| {
        Reply::Array(
            rest.iter()
                .flat_map(|c| {
                    [
                        Reply::Bulk(c.clone()),
                        Reply::Integer(server.pubsub.numsub(kind, c) as i64),
                    ]
                })
                .collect(),
        )
    };
    match sub.as_slice() {
        b"channels" => list(Kind::Channel),
        b"shardchannels" => list(Kind::Shard),
        b"numsub" => Ok(numsub(Kind::Channel)),
        b"shardnumsub" => Ok(numsub(Kind::Shard)),
        b"numpat" if rest.is_empty() => Ok(Reply::Integer(server.pubsub.numpat() as i64)),
        b"numpat" => Err(wrong_arity("pubsub|numpat")),
        b"help" => Ok(help(&[
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Print this help.",
        ])),
        _ => Err(unknown_subcommand(&args[0], "pubsub")),
    }
}

/// `MONITOR`: from now on the connection receives every command the server runs.
pub(super) fn monitor(server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    if session.in_script {
        return Err(Reply::error(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    server.pubsub.start_monitor(&session.client);
    session.pushes = true;
    Ok(Reply::ok())
}
