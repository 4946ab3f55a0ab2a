//! The options of the JavaScript class, one to one with the core's `Config`
//! (`lib/options.js` checks their types and ranges). Both ways: the options
//! given become a `Config`, and `defaultOptions(profile)` hands JavaScript
//! the defaults, so that they are written down only in `core/config.rs`.

use napi::bindgen_prelude::Buffer;
use napi::Status;
use napi_derive::napi;

use crate::core::failure_detector::{DetectorConfig, DetectorModel};
use crate::core::Config;
use crate::runtime::NetConfig;
use crate::wire::seal::KEY_BYTES;

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
    pub heartbeat_rounds: bool,
    pub probes: bool,
}

fn invalid(message: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message)
}

/// 32-byte keys, as checked by the wrapper.
pub fn key_array(keys: &[Buffer]) -> napi::Result<Vec<[u8; KEY_BYTES]>> {
    keys.iter()
        .map(|k| {
            <[u8; KEY_BYTES]>::try_from(&k[..])
                .map_err(|_| invalid(format!("keys must be {KEY_BYTES} bytes each")))
        })
        .collect()
}

fn model(name: &str) -> napi::Result<DetectorModel> {
    match name {
        "normal" => Ok(DetectorModel::Normal),
        "exponential" => Ok(DetectorModel::Exponential),
        other => Err(invalid(format!(
            "detector must be 'normal' or 'exponential', got '{other}'"
        ))),
    }
}

impl NativeOptions {
    pub fn config(&self) -> napi::Result<(Config, NetConfig)> {
        let config = Config {
            gossip_interval_ms: u64::from(self.gossip_interval_ms),
            fanout: self.fanout as usize,
            detector: DetectorConfig {
                model: model(&self.detector)?,
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
            push_on_change: self.push_on_change,
            catch_up_exchanges: self.catch_up_exchanges,
            heartbeat_rounds: self.heartbeat_rounds,
            probes: self.probes,
            read_timeout_ms: u64::from(self.read_timeout_ms),
            connect_timeout_ms: u64::from(self.connect_timeout_ms),
            max_connections: self.max_connections as usize,
        };
        config.validate().map_err(invalid)?;
        let net = NetConfig {
            keys: key_array(self.keys.as_deref().unwrap_or(&[]))?,
        };
        Ok((config, net))
    }

    // napi-derive registers `default_options` only outside `cfg(test)`
    #[cfg_attr(test, allow(dead_code))]
    fn defaults(c: &Config) -> Self {
        let d = &c.detector;
        NativeOptions {
            gossip_interval_ms: c.gossip_interval_ms as u32,
            fanout: c.fanout as u32,
            phi_threshold: d.phi_threshold,
            detector: match d.model {
                DetectorModel::Normal => "normal",
                DetectorModel::Exponential => "exponential",
            }
            .into(),
            detector_window: d.window as u32,
            initial_interval_ms: d.initial_interval_ms,
            min_std_dev_ms: d.min_std_dev_ms,
            acceptable_pause_ms: d.acceptable_pause_ms,
            dead_peer_removal_ms: c.dead_peer_removal_ms.map(|v| v as f64),
            restart_grace_ms: c.restart_grace_ms as f64,
            tombstone_ttl_ms: c.tombstone_ttl_ms as f64,
            cluster_name: c.cluster_name.clone(),
            max_message_bytes: c.max_message_bytes as u32,
            max_outgoing_message_bytes: c.max_outgoing_message_bytes as u32,
            max_value_depth: c.max_value_depth as u32,
            max_key_bytes: c.max_key_bytes as u32,
            max_value_bytes: c.max_value_bytes as u32,
            max_keys_per_peer: c.max_keys_per_peer as u32,
            max_peer_state_bytes: c.max_peer_state_bytes as u32,
            max_state_bytes: c.max_state_bytes as f64,
            max_peers: c.max_peers as u32,
            read_timeout_ms: c.read_timeout_ms as u32,
            connect_timeout_ms: c.connect_timeout_ms as u32,
            max_connections: c.max_connections as u32,
            keys: None,
            observer: c.observer,
            push_on_change: c.push_on_change,
            catch_up_exchanges: c.catch_up_exchanges,
            heartbeat_rounds: c.heartbeat_rounds,
            probes: c.probes,
        }
    }
}

/// Every option's default in `profile` (`lan`, `local`); with
/// `gossipIntervalMs`, the defaults that scale with the round for that
/// interval.
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub fn default_options(
    profile: String,
    gossip_interval_ms: Option<u32>,
) -> napi::Result<NativeOptions> {
    let mut c =
        Config::profile(&profile).ok_or_else(|| invalid(format!("no profile '{profile}'")))?;
    if let Some(ms) = gossip_interval_ms {
        c = c.with_interval(u64::from(ms));
    }
    Ok(NativeOptions::defaults(&c))
}
