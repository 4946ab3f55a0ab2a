//! The Node.js binding: a thin class over the runtime. Arguments are checked
//! by the JavaScript wrapper (index.js), which also keeps the read-side
//! mirror of the cluster state; nothing of the protocol lives here.

mod events;
mod options;
mod records;
mod teardown;
mod values;

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Function, FunctionRef, Reference, Unknown};
use napi::threadsafe_function::UnknownReturnValue;
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::core::node::{StateError, Warning};
use crate::core::stats::Refusal;
use crate::runtime::{GossipNode, StartOptions};
use events::{Hub, JsBatch, NodeSink};
use options::{key_array, NativeOptions};
use teardown::{Realm, WatchedSink};

#[napi(object)]
pub struct PeerStats {
    pub name: String,
    pub status: String,
    pub phi: f64,
    pub judged_by: String,
    pub last_heard_ms_ago: Option<f64>,
    pub keys: u32,
    pub max_version: f64,
    pub generation: f64,
}

#[napi(object)]
pub struct NativeStats {
    pub rounds: f64,
    pub stalled_ms: f64,
    pub exchanges_started: f64,
    pub catch_ups: f64,
    pub exchanges_completed: f64,
    pub exchanges_failed: f64,
    pub exchanges_served: f64,
    pub connect_failures: f64,
    pub connections_accepted: f64,
    pub messages_in: f64,
    pub messages_out: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub updates_applied: f64,
    pub updates_stale: f64,
    pub updates_refused: f64,
    pub updates_about_self: f64,
    pub peers_refused: f64,
    pub tombstones_collected: f64,
    pub events: f64,
    pub datagrams_in: f64,
    pub datagrams_out: f64,
    pub suspicions: f64,
    pub refutations: f64,
    pub repairs: f64,
    pub pulls: f64,
    pub updates_gapped: f64,
    pub lags: f64,
    pub cut_offs: f64,
    pub refused: std::collections::HashMap<String, f64>,
    pub warnings: std::collections::HashMap<String, f64>,
    pub peers_live: u32,
    pub peers_dead: u32,
    pub peers: Vec<PeerStats>,
}

/// The longest time to live a key may have, in milliseconds (30 days).
// napi-derive registers it only outside `cfg(test)`
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub fn max_ttl_ms() -> f64 {
    crate::core::node::MAX_TTL_MS as f64
}

/// The native runtime's worker threads, as `GOSSIPER_THREADS` and the
/// machine make them (for benchmarks to report; starts nothing).
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub fn runtime_threads() -> u32 {
    crate::runtime::worker_threads() as u32
}

/// A refused call's error, for the JavaScript side to throw as
/// `name` (TypeError or RangeError) with a stable `code`.
#[napi(object)]
pub struct NativeError {
    pub name: String,
    pub code: String,
    pub message: String,
}

impl From<StateError> for NativeError {
    fn from(e: StateError) -> Self {
        NativeError {
            name: "RangeError".into(),
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

impl From<values::EncodeError> for NativeError {
    fn from(e: values::EncodeError) -> Self {
        let message = match e {
            values::EncodeError::Type(m) => m,
            values::EncodeError::Napi => "value could not be read".into(),
        };
        NativeError {
            name: "TypeError".into(),
            code: "ERR_GOSSIPER_INVALID_VALUE".into(),
            message,
        }
    }
}

/// The signal hub of one JavaScript realm: every gossiper created with it
/// delivers its events through one function, `dispatch(batch)`, and is
/// stopped when the realm's environment is torn down (see `teardown`).
#[napi]
pub struct NativeHub {
    hub: Arc<Hub>,
    realm: Arc<Realm>,
    /// The dispatch function again, for the strong threadsafe function that
    /// keeps the process alive while a gossiper runs.
    dispatch: FunctionRef<JsBatch, UnknownReturnValue>,
}

#[napi]
impl NativeHub {
    #[napi(constructor)]
    pub fn new(
        env: Env,
        dispatch: Function<'_, JsBatch, UnknownReturnValue>,
    ) -> napi::Result<Self> {
        let hub = Arc::new(Hub::default());
        let realm = Arc::new(Realm::default());
        teardown::on_teardown(&env, realm.clone(), hub.clone())?;
        let for_calls = hub.clone();
        let tsfn = dispatch
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |_ctx| Ok(for_calls.take()))?;
        hub.set_function(tsfn);
        Ok(NativeHub {
            hub,
            realm,
            dispatch: dispatch.create_ref()?,
        })
    }
}

#[napi]
pub struct NativeGossiper {
    node: Arc<GossipNode>,
    sink: Arc<NodeSink>,
    realm: Arc<Realm>,
    max_value_depth: usize,
    /// The realm's hub, whose dispatch function holds the process open.
    hub: Reference<NativeHub>,
}

#[napi]
impl NativeGossiper {
    /// Its signals reach the hub's dispatch function under `nodeId`.
    #[napi(constructor)]
    pub fn new(options: NativeOptions, hub: Reference<NativeHub>) -> napi::Result<Self> {
        let (config, net) = options.config()?;
        let sink = hub.hub.sink();
        let max_value_depth = config.max_value_depth;
        let watched = Arc::new(WatchedSink {
            inner: sink.clone(),
            realm: hub.realm.clone(),
        });
        let node = Arc::new(GossipNode::new(config, net, watched));
        Ok(NativeGossiper {
            node,
            sink,
            realm: hub.realm.clone(),
            max_value_depth,
            hub,
        })
    }

    /// The number that tags this gossiper's signals in a batch.
    #[napi(getter)]
    pub fn node_id(&self) -> u32 {
        self.sink.node
    }

    /// Starts listening; the outcome arrives as a STARTED or START_FAILED
    /// signal. Until STOPPED, a strong threadsafe function (never called)
    /// keeps the process alive, as a listening server does.
    #[napi]
    pub fn start(
        &self,
        env: Env,
        port: u32,
        address: Option<String>,
        seeds: Vec<String>,
        advertise: Option<String>,
    ) -> napi::Result<()> {
        let k = self
            .hub
            .dispatch
            .borrow_back(&env)?
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<false>()
            // were it ever called, it would hand over what is queued
            .build_callback({
                let hub = self.hub.hub.clone();
                move |_ctx| Ok(hub.take())
            })?;
        self.sink.set_keep_alive(k);
        self.realm.started(self.sink.node, &self.node);
        self.node.start(StartOptions {
            port: port as u16,
            address,
            seeds,
            advertise,
        });
        Ok(())
    }

    /// Replaces the keyring: the first key seals, all open; [] turns it off.
    #[napi]
    pub fn set_keys(&self, keys: Vec<Buffer>) -> napi::Result<()> {
        self.node.set_keys(&key_array(&keys)?);
        Ok(())
    }

    /// Turns the native debug log (LOG records) on or off.
    #[napi]
    pub fn set_log(&self, on: bool) {
        self.node.set_log(on);
    }

    #[napi]
    pub fn stop(&self, leave: bool) {
        self.node.stop(leave);
    }

    /// Returns the error to throw, or nothing. With `ttl_ms` (checked by
    /// the JavaScript side: 1 to `maxTtlMs()`), every node deletes the key
    /// that long from now.
    #[napi]
    pub fn set_local_state(
        &self,
        key: String,
        value: Unknown<'_>,
        ttl_ms: Option<f64>,
    ) -> Option<NativeError> {
        let encoded =
            unsafe { values::encode(value.value().env, value.value().value, self.max_value_depth) };
        let bytes = match encoded {
            Ok(b) => b,
            Err(e) => return Some(e.into()),
        };
        let value = Arc::from(bytes);
        self.node
            .with_core(|core, now| match ttl_ms {
                Some(ms) => core.set_local_expiring(&key, value, ms as u64, now),
                None => core.set_local(&key, value, now),
            })
            .err()
            .map(NativeError::from)
    }

    /// Whether `key` is set locally: the JavaScript mirror asks when told
    /// that a local key expired, in case it was written again since.
    #[napi]
    pub fn has_local_state(&self, key: String) -> bool {
        self.node
            .with_core(|core, _| core.local_state().value(&key).is_some())
    }

    /// Returns the error to throw, or nothing.
    #[napi]
    pub fn delete_local_state(&self, key: String) -> Option<NativeError> {
        self.node
            .with_core(|core, now| core.delete_local(&key, now))
            .err()
            .map(NativeError::from)
    }

    #[napi]
    pub fn stats(&self) -> NativeStats {
        self.node.with_core(|core, now| {
            let s = core.stats();
            let reports = core.report(now);
            let peers_live = reports.iter().filter(|r| r.alive).count() as u32;
            NativeStats {
                rounds: s.rounds as f64,
                stalled_ms: s.stalled_ms as f64,
                exchanges_started: s.exchanges_started as f64,
                catch_ups: s.catch_ups as f64,
                exchanges_completed: s.exchanges_completed as f64,
                exchanges_failed: s.exchanges_failed as f64,
                exchanges_served: s.exchanges_served as f64,
                connect_failures: s.connect_failures as f64,
                connections_accepted: s.connections_accepted as f64,
                messages_in: s.messages_in as f64,
                messages_out: s.messages_out as f64,
                bytes_in: s.bytes_in as f64,
                bytes_out: s.bytes_out as f64,
                updates_applied: s.updates_applied as f64,
                updates_stale: s.updates_stale as f64,
                updates_refused: s.updates_refused as f64,
                updates_about_self: s.updates_about_self as f64,
                peers_refused: s.peers_refused as f64,
                tombstones_collected: s.tombstones_collected as f64,
                events: s.events as f64,
                datagrams_in: s.datagrams_in as f64,
                datagrams_out: s.datagrams_out as f64,
                suspicions: s.suspicions as f64,
                refutations: s.refutations as f64,
                repairs: s.repairs as f64,
                pulls: s.pulls as f64,
                updates_gapped: s.updates_gapped as f64,
                lags: s.lags as f64,
                cut_offs: s.cut_offs as f64,
                refused: Refusal::ALL
                    .iter()
                    .map(|r| (r.name().to_string(), s.refused(*r) as f64))
                    .collect(),
                warnings: Warning::ALL
                    .iter()
                    .map(|w| (w.name().to_string(), s.warnings[*w as usize] as f64))
                    .collect(),
                peers_live,
                peers_dead: reports.len() as u32 - peers_live,
                peers: reports
                    .into_iter()
                    .map(|r| PeerStats {
                        status: if r.left {
                            "left"
                        } else if r.alive {
                            "alive"
                        } else {
                            "failed"
                        }
                        .to_string(),
                        name: r.name.to_string(),
                        phi: r.phi,
                        judged_by: if r.probed { "probes" } else { "heartbeats" }.to_string(),
                        last_heard_ms_ago: r.last_heard_ms_ago.map(|v| v as f64),
                        keys: r.keys as u32,
                        max_version: r.max_version as f64,
                        generation: r.generation as f64,
                    })
                    .collect(),
            }
        })
    }
}
