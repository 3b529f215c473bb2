//! The `requestState` key ring (MRTR-7) shared through Redis.
//!
//! A 2026-07-28 multi-round-trip retry may reach any instance, so every
//! instance must verify the `requestState` that another signed: configure
//! them all with the same [`KeyRing`]
//! (`streamable_hyper::Builder::request_state_keys`). Where the secrets
//! come from is the deployment's choice (a secret manager, an environment
//! variable); this module offers one more: one process (a deploy step)
//! [`publish`]es the ring to Redis, every instance [`load`]s it at start.
//! The ring is read once, at start; a rotation is published, then the
//! instances are restarted (rolling), and the old key stays as a previous
//! key until the tokens it signed have expired.
//!
//! Layout: one hash `<ns>:keyring:{keyring}` with the field `current` (the
//! signing key's id), `previous` (the verifying keys' ids, newest first,
//! comma-separated) and `k:<id>` (each key's secret, raw bytes). Anyone
//! who can read it can forge a `requestState`: protect the Redis (ACL,
//! network) as you protect the secrets.

use streamable_core::request_state::{KeyRing, StateKey};

use crate::{Error, Redis};

fn ring_key(redis: &Redis) -> String {
    redis.key("keyring", "keyring")
}

/// Store the ring made of `current` (id, secret) and `previous` (newest
/// first), replacing any ring stored before, atomically. Secrets shorter
/// than 32 bytes are refused ([`StateKey::new`]).
pub async fn publish(
    redis: &Redis,
    current: (u32, &[u8]),
    previous: &[(u32, &[u8])],
) -> Result<(), Error> {
    for (id, secret) in std::iter::once(&current).chain(previous) {
        if StateKey::new(*id, secret).is_none() {
            return Err(Error::Config(format!(
                "key {id}: a secret needs at least 32 bytes"
            )));
        }
    }
    let key = ring_key(redis);
    let prev: Vec<String> = previous.iter().map(|(id, _)| id.to_string()).collect();
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("DEL").arg(&key).ignore();
    let hset = pipe
        .cmd("HSET")
        .arg(&key)
        .arg("current")
        .arg(current.0)
        .arg("previous")
        .arg(prev.join(","));
    for (id, secret) in std::iter::once(&current).chain(previous) {
        hset.arg(format!("k:{id}")).arg(*secret);
    }
    hset.ignore();
    let mut c = redis.connection();
    redis
        .bounded(async move { pipe.query_async::<()>(&mut c).await })
        .await
}

/// The ring stored by [`publish`], or `None` when none is.
pub async fn load(redis: &Redis) -> Result<Option<KeyRing>, Error> {
    let key = ring_key(redis);
    let mut c = redis.connection();
    let fields: std::collections::BTreeMap<String, Vec<u8>> = redis
        .bounded(async move { redis::cmd("HGETALL").arg(&key).query_async(&mut c).await })
        .await?;
    if fields.is_empty() {
        return Ok(None);
    }
    let text = |name: &str| -> Result<String, Error> {
        let v = fields
            .get(name)
            .ok_or_else(|| Error::Corrupt(format!("key ring: no {name}")))?;
        String::from_utf8(v.clone()).map_err(|_| Error::Corrupt(format!("key ring: {name}")))
    };
    let state_key = |id: &str| -> Result<StateKey, Error> {
        let n: u32 = id
            .parse()
            .map_err(|_| Error::Corrupt(format!("key ring: key id {id:?}")))?;
        let secret = fields
            .get(&format!("k:{n}"))
            .ok_or_else(|| Error::Corrupt(format!("key ring: no secret for {n}")))?;
        StateKey::new(n, secret).ok_or_else(|| Error::Corrupt(format!("key ring: key {n}")))
    };
    let mut ring = KeyRing::new(state_key(&text("current")?)?);
    for id in text("previous")?.split(',').filter(|s| !s.is_empty()) {
        ring = ring.with_previous(state_key(id)?);
    }
    Ok(Some(ring))
}
