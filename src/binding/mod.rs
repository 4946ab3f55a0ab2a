//! The Node.js binding: a thin class over the runtime. Arguments are checked
//! by the JavaScript wrapper (index.js), which also keeps the read-side
//! mirror of the cluster state; nothing of the protocol lives here.

mod events;
mod records;
mod teardown;
mod values;

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Function, FunctionRef, Reference, Unknown};
use napi::threadsafe_function::UnknownReturnValue;
use napi::{Env, JsValue, Status};
use napi_derive::napi;

use crate::core::failure_detector::{DetectorConfig, DetectorModel};
use crate::core::node::StateError;
use crate::core::stats::Refusal;
use crate::core::Config;
use crate::runtime::{GossipNode, NetConfig, StartOptions};
use crate::wire::seal::KEY_BYTES;
use events::{Hub, JsBatch, NodeSink};
use teardown::{Realm, WatchedSink};

/// Options as validated by the JavaScript wrapper (see lib/options.js).
#[napi(object)]
pub struct NativeOptions {
    pub gossip_interval_ms: u32,
    pub fanout: u32,
    pub phi_threshold: f64,
    pub detector: String,
    pub detector_window: u32,
    pub initial_interval_ms: f64,
    pub min_std_dev_ms: f64,
    pub acceptable_pause_ms: f64,
    pub dead_peer_removal_ms: Option<f64>,
    pub restart_grace_ms: f64,
    pub tombstone_ttl_ms: f64,
    pub cluster_name: Option<String>,
    pub max_message_bytes: u32,
    pub max_outgoing_message_bytes: u32,
    pub max_value_depth: u32,
    pub max_key_bytes: u32,
    pub max_value_bytes: u32,
    pub max_keys_per_peer: u32,
    pub max_peer_state_bytes: u32,
    pub max_state_bytes: f64,
    pub max_peers: u32,
    pub read_timeout_ms: u32,
    pub connect_timeout_ms: u32,
    pub max_connections: u32,
    pub keys: Option<Vec<Buffer>>,
    pub observer: bool,
    pub push_on_change: bool,
    pub catch_up_exchanges: u32,
}

/// 32-byte keys, as checked by the wrapper.
fn key_array(keys: &[Buffer]) -> napi::Result<Vec<[u8; KEY_BYTES]>> {
    keys.iter()
        .map(|k| {
            <[u8; KEY_BYTES]>::try_from(&k[..]).map_err(|_| {
                napi::Error::new(
                    Status::InvalidArg,
                    format!("keys must be {KEY_BYTES} bytes each"),
                )
            })
        })
        .collect()
}

impl NativeOptions {
    fn config(&self) -> napi::Result<(Config, NetConfig)> {
        let config = Config {
            gossip_interval_ms: u64::from(self.gossip_interval_ms),
            fanout: self.fanout as usize,
            detector: DetectorConfig {
                model: if self.detector == "exponential" {
                    DetectorModel::Exponential
                } else {
                    DetectorModel::Normal
                },
                phi_threshold: self.phi_threshold,
                window: self.detector_window as usize,
                initial_interval_ms: self.initial_interval_ms,
                min_std_dev_ms: self.min_std_dev_ms,
                acceptable_pause_ms: self.acceptable_pause_ms,
            },
            dead_peer_removal_ms: self.dead_peer_removal_ms.map(|v| v as u64),
            restart_grace_ms: self.restart_grace_ms as u64,
            tombstone_ttl_ms: self.tombstone_ttl_ms as u64,
            cluster_name: self.cluster_name.clone(),
            max_outgoing_message_bytes: self.max_outgoing_message_bytes as usize,
            max_message_bytes: self.max_message_bytes as usize,
            max_value_depth: self.max_value_depth as usize,
            max_key_bytes: self.max_key_bytes as usize,
            max_value_bytes: self.max_value_bytes as usize,
            max_keys_per_peer: self.max_keys_per_peer as usize,
            max_peer_state_bytes: self.max_peer_state_bytes as usize,
            max_state_bytes: self.max_state_bytes as usize,
            max_peers: self.max_peers as usize,
            observer: self.observer,
        };
        let net = NetConfig {
            read_timeout_ms: u64::from(self.read_timeout_ms),
            connect_timeout_ms: u64::from(self.connect_timeout_ms),
            max_connections: self.max_connections as usize,
            keys: key_array(self.keys.as_deref().unwrap_or(&[]))?,
            push_on_change: self.push_on_change,
            catch_up_exchanges: self.catch_up_exchanges,
        };
        Ok((config, net))
    }
}

#[napi(object)]
pub struct PeerStats {
    pub name: String,
    pub status: String,
    pub phi: f64,
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
    pub refused: std::collections::HashMap<String, f64>,
    pub peers_live: u32,
    pub peers_dead: u32,
    pub peers: Vec<PeerStats>,
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
        config
            .validate()
            .map_err(|m| napi::Error::new(Status::InvalidArg, m))?;
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
        });
        Ok(())
    }

    /// Replaces the keyring: the first key seals, all open; [] turns it off.
    #[napi]
    pub fn set_keys(&self, keys: Vec<Buffer>) -> napi::Result<()> {
        self.node.set_keys(&key_array(&keys)?);
        Ok(())
    }

    #[napi]
    pub fn stop(&self, leave: bool) {
        self.node.stop(leave);
    }

    /// Returns the error to throw, or nothing.
    #[napi]
    pub fn set_local_state(&self, key: String, value: Unknown<'_>) -> Option<NativeError> {
        let encoded =
            unsafe { values::encode(value.value().env, value.value().value, self.max_value_depth) };
        let bytes = match encoded {
            Ok(b) => b,
            Err(e) => return Some(e.into()),
        };
        self.node
            .write(|core, _| core.set_local(&key, Arc::from(bytes)))
            .err()
            .map(NativeError::from)
    }

    /// Returns the error to throw, or nothing.
    #[napi]
    pub fn delete_local_state(&self, key: String) -> Option<NativeError> {
        self.node
            .write(|core, now| core.delete_local(&key, now))
            .err()
            .map(NativeError::from)
    }

    #[napi]
    pub fn stats(&self) -> NativeStats {
        let stalled_ms = self.node.stalled_ms();
        self.node.with_core(|core, now| {
            let s = &core.stats;
            let reports = core.report(now);
            let peers_live = reports.iter().filter(|r| r.alive).count() as u32;
            NativeStats {
                rounds: s.rounds as f64,
                stalled_ms: stalled_ms as f64,
                exchanges_started: s.exchanges_started as f64,
                catch_ups: s.catch_ups as f64,
                exchanges_completed: s.exchanges_completed as f64,
                exchanges_failed: s.exchanges_failed as f64,
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
                refused: Refusal::ALL
                    .iter()
                    .map(|r| (r.name().to_string(), s.refused(*r) as f64))
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
