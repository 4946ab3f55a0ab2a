//! Local writes: keys and values checked against the limits, the
//! heartbeat, and the leave marker.

use super::*;

pub(super) const MSGPACK_TRUE: &[u8] = &[0xc3];

/// Errors of the local write API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    KeyTooLong { len: usize, max: usize },
    ReservedKey(String),
    ValueTooLarge { len: usize, max: usize },
    TooManyKeys { max: usize },
    StateTooLarge { max: usize },
}

impl StateError {
    /// The stable `code` of the error JavaScript throws for it.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::KeyTooLong { .. } => "ERR_GOSSIPER_KEY_TOO_LONG",
            StateError::ReservedKey(_) => "ERR_GOSSIPER_RESERVED_KEY",
            StateError::ValueTooLarge { .. } => "ERR_GOSSIPER_VALUE_TOO_LARGE",
            StateError::TooManyKeys { .. } => "ERR_GOSSIPER_TOO_MANY_KEYS",
            StateError::StateTooLarge { .. } => "ERR_GOSSIPER_STATE_TOO_LARGE",
        }
    }
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::KeyTooLong { len, max } => {
                write!(f, "key is {len} bytes, over maxKeyBytes ({max})")
            }
            StateError::ReservedKey(k) => write!(f, "key '{k}' is reserved by gossiper"),
            StateError::ValueTooLarge { len, max } => {
                write!(
                    f,
                    "value encodes to {len} bytes, over maxValueBytes ({max})"
                )
            }
            StateError::TooManyKeys { max } => {
                write!(f, "this peer already holds maxKeysPerPeer ({max}) keys")
            }
            StateError::StateTooLarge { max } => {
                write!(
                    f,
                    "this write would take the local state over maxPeerStateBytes ({max})"
                )
            }
        }
    }
}

impl Node {
    pub(super) fn beat(&mut self) {
        self.heartbeat += 1;
        let mut value = Vec::with_capacity(9);
        crate::wire::write::write_uint(&mut value, self.heartbeat);
        let value: Value = Arc::from(value);
        let version = self.me().state.max_version + 1;
        self.me_mut()
            .state
            .put(HEARTBEAT_KEY, Some(value.clone()), version, 0);
        self.emit(Event::Update {
            peer: self.me,
            key: heartbeat_key().clone(),
            value,
        });
        self.wrote(HEARTBEAT_KEY, version);
    }

    /// Our state changed at `version` (key `key`): the summary, and news
    /// for the peers that probe (a heartbeat only when it is not beaten
    /// every round anyway, see `legacy`).
    pub(super) fn wrote(&mut self, key: &str, version: u64) {
        let me = self.me;
        self.touch(me);
        if key != HEARTBEAT_KEY || !self.legacy {
            let key = self.me().state.key_arc(key);
            self.broadcast(broadcast::News::Delta, me, version, Some(key));
        }
    }

    pub(super) fn check_key(&self, key: &str) -> Result<(), StateError> {
        if key.len() > self.config.max_key_bytes {
            return Err(StateError::KeyTooLong {
                len: key.len(),
                max: self.config.max_key_bytes,
            });
        }
        if key == HEARTBEAT_KEY || key == LEFT_KEY {
            return Err(StateError::ReservedKey(key.to_string()));
        }
        Ok(())
    }

    /// Writes a local key; the write is pushed to peers at once when
    /// `push_on_change` is on.
    pub fn set_local(&mut self, key: &str, value: Value, now: Millis) -> Result<(), StateError> {
        self.check_key(key)?;
        let max = &self.config;
        if value.len() > max.max_value_bytes {
            return Err(StateError::ValueTooLarge {
                len: value.len(),
                max: max.max_value_bytes,
            });
        }
        let state = &self.me().state;
        let old = state.get(key);
        let is_new_key = old.and_then(|e| e.value.as_ref()).is_none();
        if is_new_key && state.live_keys() >= max.max_keys_per_peer {
            return Err(StateError::TooManyKeys {
                max: max.max_keys_per_peer,
            });
        }
        let old_bytes = old.map_or(0, |e| key.len() + e.value.as_ref().map_or(0, |v| v.len()));
        if state.bytes() - old_bytes + key.len() + value.len() > max.max_peer_state_bytes {
            return Err(StateError::StateTooLarge {
                max: max.max_peer_state_bytes,
            });
        }
        let version = state.max_version + 1;
        self.me_mut().state.put(key, Some(value), version, 0);
        self.wrote(key, version);
        self.note_write();
        self.schedule_after_input(now);
        Ok(())
    }

    /// Deletes a local key; false if it was not set.
    pub fn delete_local(&mut self, key: &str, now: Millis) -> Result<bool, StateError> {
        self.check_key(key)?;
        if self.me().state.value(key).is_none() {
            return Ok(false);
        }
        let version = self.me().state.max_version + 1;
        let judged = self.observe_time(now);
        self.me_mut().state.put(key, None, version, judged);
        self.wrote(key, version);
        self.note_write();
        self.schedule_after_input(now);
        Ok(true)
    }

    /// Announces that this node leaves: exchanges with a few live peers
    /// tell them at once. Returns those exchanges, which the driver may wait
    /// for before it stops the node.
    pub fn leave(&mut self, now: Millis) -> Vec<ExchangeId> {
        self.observe_time(now);
        let version = self.me().state.max_version + 1;
        self.me_mut()
            .state
            .put(LEFT_KEY, Some(Arc::from(MSGPACK_TRUE)), version, 0);
        self.wrote(LEFT_KEY, version);
        // the news goes now: the driver stops us soon after
        let fanout = self.config.fanout.max(3);
        let probing = self.sample_probing(fanout, None);
        for to in probing {
            self.send_datagram(to, crate::wire::datagram::DatagramKind::Gossip, 0, None);
        }
        let tell = self.config.fanout.max(3);
        let targets = self.sample_live(tell);
        targets
            .into_iter()
            .map(|t| self.open_exchange(t, false))
            .collect()
    }
}
