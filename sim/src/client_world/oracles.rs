//! The client world's oracles, checked on a finished run.

use std::collections::BTreeMap;

use serde_json::Value;

use streamable_core::client::MIN_RETRY_MS;

use super::recorder::{StreamLog, World};
use super::{MAX_RECONNECTS, Scenario};
use crate::harness::DEADLINE;
use crate::wire::parse_event_id;

/// Check every oracle on a finished run; the first violation.
pub(super) fn check(
    scen: &Scenario,
    names: &[String],
    w: &World,
    n: &mut BTreeMap<&'static str, u64>,
) -> Result<(), String> {
    let hop = scen.hop();
    let idx_of = |client: &str| names.iter().position(|n| n == client).unwrap_or(0);
    // What crossed the wire first (the most specific oracles), then what
    // the application got.
    check_requests(scen, w, hop, &idx_of, n)?;
    check_storm(w, n)?;
    check_streams(scen, w, hop, &idx_of, n)?;
    // Calls: INV-L1, INV-S2 (progress), misrouting, deadline.
    for c in &w.calls {
        let disturbed = scen.disturbed(c.client, c.start, c.end);
        if let Err(e) = &c.outcome {
            if e.starts_with("MISROUTED") {
                return Err(format!("{}: {e}", c.tag));
            }
            // The request that finds a crashed server's 404 fails by design
            // it may have run; never re-sent); the client goes on in
            // a new session (INV-L3, below).
            let lost_session = e.contains("session expired")
                && scen.crash.is_some_and(|(at, _)| u64::from(at) <= c.end);
            // A connection pooled before a crash or a partition is dead
            // without knowing it; the first request sent on it after the
            // fault is lost in flight (it may have run: not re-sent).
            let fault_at = [
                scen.crash.map(|(at, _)| u64::from(at)),
                scen.partition
                    .filter(|p| p.0 == c.client)
                    .map(|(_, at, _)| u64::from(at)),
            ]
            .into_iter()
            .flatten()
            .filter(|at| *at <= c.start)
            .max();
            let stale_pool = e.contains("stream lost")
                && fault_at.is_some_and(|f| {
                    !w.calls.iter().any(|o| {
                        o.client == c.client && o.outcome.is_ok() && o.end >= f && o.end <= c.start
                    })
                });
            if !disturbed && !lost_session && !stale_pool {
                return Err(format!("INV-L1: undisturbed call {} failed: {e}", c.tag));
            }
        }
        if c.end - c.start > DEADLINE.as_millis() as u64 {
            return Err(format!(
                "deadline: call {} took {} ms",
                c.tag,
                c.end - c.start
            ));
        }
        // A 2026-07-28 call whose stream broke is re-issued with a new id
        // (H-CAN-4): the new request's progress starts again. So progress
        // may fall back only once per extra POST of the call the server saw
        // (never, in the legacy era), and must rise within each attempt.
        let attempts = w
            .requests
            .iter()
            .filter(|r| {
                r.messages.iter().any(|m| {
                    m.pointer("/params/arguments/tag").and_then(Value::as_str) == Some(&c.tag)
                })
            })
            .count()
            .max(1);
        let restarts = c.progress.windows(2).filter(|p| p[0] >= p[1]).count();
        if restarts >= attempts || (restarts > 0 && !scen.clients[c.client].modern) {
            return Err(format!(
                "INV-S2: progress of {} repeated or out of order: {:?} ({attempts} attempt(s))",
                c.tag, c.progress
            ));
        }
        // What the last attempt reported.
        let last_run = c
            .progress
            .windows(2)
            .rposition(|p| p[0] >= p[1])
            .map_or(&c.progress[..], |i| &c.progress[i + 1..]);
        *n.entry("calls").or_default() += 1;
        if c.cancelled {
            *n.entry("calls cancelled").or_default() += 1;
        }
        if c.outcome.is_ok() && !c.cancelled && !disturbed && c.steps > 0 {
            *n.entry("progress sequences checked complete").or_default() += 1;
            let want: Vec<f64> = (1..=c.steps).map(|k| k as f64).collect();
            if last_run != want.as_slice() {
                return Err(format!(
                    "INV-S2: {} got progress {:?}, want {want:?} (replay lost or duplicated events)",
                    c.tag, c.progress
                ));
            }
        }
    }
    // Flood notifications on the standalone stream: at most once, in order.
    for (client, notes) in &w.notes {
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for (tag, i, _) in notes {
            if let Some(prev) = last.insert(tag, *i)
                && prev >= *i
            {
                return Err(format!(
                    "INV-S2: {client} got notification {i} of {tag} after {prev}"
                ));
            }
        }
    }
    // INV-L3: a 404 for a session is followed by a new initialize (unless
    // the client was closing by then).
    for (i, r) in w.requests.iter().enumerate() {
        if r.status != Some(404) || r.session.is_none() || r.method == http::Method::DELETE {
            continue;
        }
        let closing = w
            .closed_at
            .get(&r.client)
            .is_some_and(|t| *t <= r.at + 2 * hop);
        *n.entry("404s").or_default() += 1;
        let renewed = w.requests[i + 1..]
            .iter()
            .any(|n| n.client == r.client && n.is_initialize());
        if !renewed && !closing && !scen.disturbed(idx_of(&r.client), r.at, r.at + 1000) {
            return Err(format!(
                "INV-L3: {} got 404 at {} ms and never initialized again",
                r.client, r.at
            ));
        }
    }
    Ok(())
}

/// INV-S9, INV-S14 and the cancel's arrival, from the requests.
pub(crate) fn check_requests(
    scen: &Scenario,
    w: &World,
    hop: u64,
    idx_of: &dyn Fn(&str) -> usize,
    n: &mut BTreeMap<&'static str, u64>,
) -> Result<(), String> {
    // Request ids each client sent per session, with their methods.
    let mut sent: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for (i, r) in w.requests.iter().enumerate() {
        if scen.clients[idx_of(&r.client)].modern {
            // 2026-07-28 (INV-S16/S24 from the client's side): no session,
            // never `initialize`, and headers that always agree with the
            // body (a disagreement is a 400 with -32020).
            *n.entry("modern requests checked").or_default() += 1;
            if r.session.is_some() || r.is_initialize() {
                return Err(format!(
                    "{}: a 2026-07-28 client sent a session id or initialize",
                    r.client
                ));
            }
            if r.status == Some(400) {
                return Err(format!(
                    "INV-S24: {}'s 2026-07-28 request at {} ms was refused with 400 (headers and body disagree?)",
                    r.client, r.at
                ));
            }
            continue;
        }
        if r.is_initialize() && r.session.is_some() {
            return Err(format!(
                "INV-S9: {} sent initialize with a session id",
                r.client
            ));
        }
        let Some(sid) = &r.session else {
            continue;
        };
        if !w
            .minted
            .iter()
            .any(|(c, s, at, _)| c == &r.client && s == sid && *at <= r.at)
        {
            return Err(format!(
                "INV-S9: {} sent session id {sid} at {} ms, never minted for it",
                r.client, r.at
            ));
        }
        // A 404 for this id earlier, which the client has had time to see,
        // and no new session with the same id since.
        let dead = w.requests[..i].iter().find(|d| {
            d.client == r.client
                && d.session.as_ref() == Some(sid)
                && d.status == Some(404)
                && d.at + 2 * hop < r.at
                && !w
                    .minted
                    .iter()
                    .any(|(c, s, at, _)| c == &r.client && s == sid && *at > d.at)
        });
        if let Some(d) = dead {
            return Err(format!(
                "INV-S9: {} sent session id {sid} at {} ms, after the 404 at {} ms",
                r.client, r.at, d.at
            ));
        }
        let ids = sent.entry((r.client.clone(), sid.clone())).or_default();
        for m in &r.messages {
            if let (Some(id), Some(method)) = (m.get("id"), m["method"].as_str()) {
                ids.insert(id.to_string(), method.to_owned());
            }
            if m["method"] == "notifications/cancelled" {
                *n.entry("cancels checked").or_default() += 1;
                let target = m["params"]["requestId"].to_string();
                let init = w
                    .minted
                    .iter()
                    .rev()
                    .find(|(c, s, at, _)| c == &r.client && s == sid && *at <= r.at)
                    .map(|m| m.3.as_str());
                // The request's own POST may have been lost to a fault;
                // otherwise the server saw it, in this session.
                let lost = scen.disturbed(idx_of(&r.client), 0, r.at);
                if init == Some(target.as_str())
                    || ids.get(&target).is_some_and(|m| m == "initialize")
                    || (ids.get(&target).is_none() && !lost)
                {
                    return Err(format!(
                        "INV-S14: {} cancelled request {target}, not one of its requests in session {sid}",
                        r.client
                    ));
                }
            }
        }
    }
    // A cancelled call's cancel reaches the server.
    for c in w.calls.iter().filter(|c| c.cancelled) {
        // 2026-07-28: closing the stream is the cancellation (no message).
        if scen.clients[c.client].modern || scen.disturbed(c.client, c.start, c.end + 1000) {
            continue;
        }
        let Some(post) = w.requests.iter().find(|r| {
            r.messages
                .iter()
                .any(|m| m.pointer("/params/arguments/tag").and_then(Value::as_str) == Some(&c.tag))
        }) else {
            continue;
        };
        let id = post
            .messages
            .iter()
            .find_map(|m| m.get("id"))
            .map(Value::to_string);
        let answered_first = post_stream(w, &c.tag)
            .and_then(|s| s.response_at)
            .is_some_and(|t| t <= c.end);
        let cancel = w.requests.iter().any(|r| {
            r.client == post.client
                && r.messages.iter().any(|m| {
                    m["method"] == "notifications/cancelled"
                        && Some(m["params"]["requestId"].to_string()) == id
                })
        });
        if !cancel && !answered_first {
            return Err(format!(
                "INV-S14: {} gave up on {} at {} ms, no notifications/cancelled reached the server",
                post.client, c.tag, c.end
            ));
        }
    }
    Ok(())
}

pub(super) fn post_stream<'w>(w: &'w World, tag: &str) -> Option<&'w StreamLog> {
    w.streams.values().find(|s| s.tag.as_deref() == Some(tag))
}

/// INV-S7, INV-S21, INV-L2, INV-L4, from the reconnections.
pub(crate) fn check_streams(
    scen: &Scenario,
    w: &World,
    hop: u64,
    idx_of: &dyn Fn(&str) -> usize,
    n: &mut BTreeMap<&'static str, u64>,
) -> Result<(), String> {
    let mut cursors: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for (i, r) in w.requests.iter().enumerate() {
        let Some(lei) = &r.last_event_id else {
            continue;
        };
        if r.method != http::Method::GET || r.storm {
            continue;
        }
        let c = idx_of(&r.client);
        *n.entry("resumes").or_default() += 1;
        let Some((s, q)) = parse_event_id(lei) else {
            return Err(format!(
                "INV-S7: {} sent Last-Event-ID {lei:?}, not an id the server wrote",
                r.client
            ));
        };
        let Some(sid) = &r.session else {
            return Err(format!(
                "INV-S7: {} resumed {lei} without a session",
                r.client
            ));
        };
        let key = (sid.clone(), s);
        let Some(log) = w.streams.get(&key) else {
            return Err(format!(
                "INV-S7: {} resumed {lei}: no such stream in session {sid}",
                r.client
            ));
        };
        if log.client != r.client {
            return Err(format!(
                "INV-S7: {} resumed {lei}, a stream of {}",
                r.client, log.client
            ));
        }
        if !log.events.range(..=r.at).any(|_| true) || log.events.get(&q).is_none_or(|t| *t > r.at)
        {
            return Err(format!(
                "INV-S7: {} sent Last-Event-ID {lei} at {} ms, never written on that stream before",
                r.client, r.at
            ));
        }
        if let Some(prev) = cursors.insert(key.clone(), q)
            && prev > q
        {
            return Err(format!(
                "INV-S7: {}'s cursor for stream {s} went back from {prev} to {q}",
                r.client
            ));
        }
        // The close this reconnection follows: the last one of a connection
        // opened before it.
        if let Some(close) = log
            .closes
            .iter()
            .filter(|cl| cl.request < i && cl.at <= r.at)
            .max_by_key(|cl| cl.at)
        {
            if close.retry.is_some() {
                *n.entry("resumes after a close with retry").or_default() += 1;
            }
            if let Some(retry) = close.retry
                && r.at < close.at + retry
            {
                return Err(format!(
                    "INV-S21: {} reconnected to stream {s} at {} ms, {} ms after the close, retry {retry} ms",
                    r.client,
                    r.at,
                    r.at - close.at
                ));
            }
            if !scen.disturbed(c, close.at, r.at)
                && close.last.is_some()
                && r.at < close.at + retry_window(scen)
            {
                *n.entry("resume cursors compared").or_default() += 1;
            }
            if !scen.disturbed(c, close.at, r.at)
                && let Some(last) = close.last
                && last != q
                && r.at < close.at + retry_window(scen)
            {
                return Err(format!(
                    "INV-S7: {} resumed stream {s} from {q}, the last event written before the close was {last}",
                    r.client
                ));
            }
        }
        // INV-L2: not after the call returned or was given up.
        if let Some(tag) = &log.tag
            && let Some(call) = w.calls.iter().find(|cl| &cl.tag == tag)
            && r.at > call.end + hop
        {
            return Err(format!(
                "INV-L2: {} reconnected to stream {s} of {tag} at {} ms, the call ended at {} ms",
                r.client, r.at, call.end
            ));
        }
    }
    // INV-L4: a server-side close of an unfinished POST stream is followed
    // by a reconnection with the last id written (undisturbed, call alive).
    for ((sid, s), log) in &w.streams {
        let Some(tag) = &log.tag else {
            continue;
        };
        let Some(call) = w.calls.iter().find(|cl| &cl.tag == tag) else {
            continue;
        };
        let c = idx_of(&log.client);
        for close in &log.closes {
            if close.finished || call.cancelled || close.at + hop >= call.end {
                continue;
            }
            if scen.disturbed(c, close.at, call.end) {
                continue;
            }
            let Some(last) = close.last else {
                continue;
            };
            *n.entry("unfinished streams closed by the server")
                .or_default() += 1;
            let want = format!("{s}-{last}");
            let back = w.requests.iter().any(|r| {
                r.client == log.client
                    && r.session.as_ref() == Some(sid)
                    && r.at >= close.at
                    && r.last_event_id.as_deref() == Some(want.as_str())
            });
            if !back {
                return Err(format!(
                    "INV-L4: {} never resumed stream {s} of {tag} with {want} after the close at {} ms",
                    log.client, close.at
                ));
            }
        }
    }
    Ok(())
}

/// How long after a close a reconnection still counts as "the" one that
/// follows it (later ones may follow further events on another connection).
pub(super) fn retry_window(scen: &Scenario) -> u64 {
    u64::from(scen.server.retry_ms) + 4 * scen.hop() + 200
}

/// HC-RECON-1, HC-RECON-2 against the `retry: 0` storm: per client and
/// session, at most 1 + [`MAX_RECONNECTS`] standalone GETs (the opening one
/// and the reconnections without progress), each at least the floor after
/// the one before (the close comes after the request, so measuring from
/// the request is conservative).
pub(super) fn check_storm(w: &World, n: &mut BTreeMap<&'static str, u64>) -> Result<(), String> {
    let mut last: BTreeMap<(&str, Option<&str>), (u64, u32)> = BTreeMap::new();
    for r in w.requests.iter().filter(|r| r.storm) {
        *n.entry("storm reconnections checked").or_default() += 1;
        let key = (r.client.as_str(), r.session.as_deref());
        let (count, gap) = match last.get(&key) {
            Some(&(at, count)) => (count + 1, Some(r.at - at)),
            None => (1, None),
        };
        if let Some(gap) = gap
            && gap < MIN_RETRY_MS
        {
            return Err(format!(
                "storm (HC-RECON-1): {} reconnected its standalone stream at {} ms, {gap} ms after the last, under the {MIN_RETRY_MS} ms floor",
                r.client, r.at
            ));
        }
        if count > 1 + MAX_RECONNECTS {
            return Err(format!(
                "storm (HC-RECON-2): {} opened its standalone stream {count} times without progress by {} ms (bound 1 + {MAX_RECONNECTS})",
                r.client, r.at
            ));
        }
        last.insert(key, (r.at, count));
    }
    Ok(())
}
