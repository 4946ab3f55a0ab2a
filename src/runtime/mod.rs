//! The tokio driver of the core: it moves bytes and fires timers, and makes
//! no protocol decision. Per node: one listener task, one timer task that
//! the node's alarm (`alarm.rs`) wakes at the core's `poll_timeout()`, one
//! datagram task, and one task per connection, all on a single runtime
//! shared by every node of the process. The core is
//! behind a mutex held only while it computes; after every input the driver
//! drains what the core produced (`driver.rs`): events to the `Sink`, in
//! order, and connections to open.

mod admission;
mod alarm;
mod connection;
mod datagrams;
mod debug_log;
mod driver;
mod resolve;
mod transport;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::core::time::Millis;
use crate::core::{Config, Event, Node};
use crate::wire::seal::{Keyring, KEY_BYTES, OVERHEAD};
use crate::wire::ScanLimits;
use transport::{ConnLimits, Sealing};

/// What the runtime reports, in order, to whoever drives it.
#[derive(Debug)]
pub enum Signal {
    Core(Event),
    /// Listening under this name.
    Started {
        name: String,
    },
    StartFailed {
        message: String,
        code: String,
    },
    /// Listener and connections closed.
    Stopped,
    /// A line of the driver's debug log (see `set_log`).
    Log {
        message: String,
    },
}

pub trait Sink: Send + Sync + 'static {
    /// Must not block: it is called with the node's lock held so that
    /// signals keep their order.
    fn deliver(&self, signals: Vec<Signal>);
}

/// What the runtime needs beside the core's `Config`.
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    /// 32-byte keys; when any is set every message is sealed, the first key
    /// sealing and all of them tried to open.
    pub keys: Vec<[u8; KEY_BYTES]>,
}

/// Where to listen: `address` None means the IPv4 address the host name
/// resolves to (node-gossip's choice).
#[derive(Clone, Debug)]
pub struct StartOptions {
    pub port: u16,
    pub address: Option<String>,
    pub seeds: Vec<String>,
    /// The name to give ourselves (`host:port`) when it is not the address
    /// we listen on: behind NAT, or bound to 0.0.0.0 in a container.
    pub advertise: Option<String>,
}

/// The worker threads the runtime has: `GOSSIPER_THREADS` (1 to 64), else
/// two (one on a single-core machine). A quiet cluster hardly keeps one
/// busy, but a large one forming in one process (every node learning of
/// every other at once) is bound by this runtime's CPU, and a second thread
/// shortens that, at a cost too small to tell from noise while quiet.
pub fn worker_threads() -> usize {
    std::env::var("GOSSIPER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(2)))
}

/// The process-wide runtime, of `worker_threads()` threads.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("gossiper")
            .enable_all()
            .build()
            .expect("cannot start the gossiper runtime")
    })
}

/// The clock every node of the process is driven by: one epoch for all, so
/// that the rounds the cores put on their grid of phases fall together.
struct Epoch {
    at: Instant,
    /// The same moment on the clock `Instant` reads (CLOCK_MONOTONIC), for
    /// alarms set in absolute time: nodes due in the same millisecond ring
    /// together.
    #[cfg(target_os = "linux")]
    monotonic: Duration,
}

fn the_epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| Epoch {
        at: Instant::now(),
        #[cfg(target_os = "linux")]
        monotonic: {
            let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
        },
    })
}

fn epoch() -> Instant {
    the_epoch().at
}

#[cfg(target_os = "linux")]
fn epoch_monotonic() -> Duration {
    the_epoch().monotonic
}

fn now_ms() -> Millis {
    epoch().elapsed().as_millis() as Millis
}

#[cfg(not(target_os = "linux"))]
fn instant_at(ms: Millis) -> tokio::time::Instant {
    (epoch() + Duration::from_millis(ms)).into()
}

pub(crate) struct Shared {
    core: Mutex<Node>,
    sink: Arc<dyn Sink>,
    limits: ConnLimits,
    connect_timeout: Duration,
    max_connections: usize,
    sealing: parking_lot::RwLock<Option<Sealing>>,
    /// Wakes the timer task at the core's deadline (from the first start on).
    alarm: OnceLock<alarm::Alarm>,
    /// The connections' tasks while the node runs.
    connections: Mutex<Option<tokio::task::JoinSet<()>>>,
    log: debug_log::Log,
    /// The node's UDP socket while it runs.
    udp: Mutex<Option<Arc<tokio::net::UdpSocket>>>,
}

fn sealing_for(keys: &[[u8; KEY_BYTES]], cluster: Option<&str>) -> Option<Sealing> {
    (!keys.is_empty()).then(|| Sealing {
        keyring: Arc::new(Keyring::new(keys)),
        associated: Arc::from(cluster.unwrap_or("").as_bytes()),
    })
}

impl Shared {
    fn sealing(&self) -> Option<Sealing> {
        self.sealing.read().clone()
    }

    /// Logs `line` (made only when the log is on) as this node's.
    fn log(&self, line: impl FnOnce() -> String) {
        if !self.log.enabled() {
            return;
        }
        let text = line();
        if let Some(message) = self.log.admit(format_args!("{text}")) {
            self.sink.deliver(vec![Signal::Log { message }]);
        }
    }
}

struct Running {
    tasks: Vec<JoinHandle<()>>,
}

/// A gossip node: its core, and its sockets and timers while started.
pub struct GossipNode {
    shared: Arc<Shared>,
    running: Arc<tokio::sync::Mutex<Option<Running>>>,
}

impl GossipNode {
    pub fn new(config: Config, net: NetConfig, sink: Arc<dyn Sink>) -> Self {
        let limits = ConnLimits {
            scan: ScanLimits {
                max_message_bytes: config.max_message_bytes,
                max_depth: config.max_message_depth(),
            },
            read_timeout: Duration::from_millis(config.read_timeout_ms),
        };
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        let max_connections = config.max_connections;
        let generation = crate::core::time::wall_clock_version();
        let sealing = sealing_for(&net.keys, config.cluster_name.as_deref());
        let mut node = Node::new(config, generation, generation ^ 0x9e37_79b9_7f4a_7c15);
        node.set_frame_overhead(if sealing.is_some() { OVERHEAD } else { 0 });
        GossipNode {
            shared: Arc::new(Shared {
                core: Mutex::new(node),
                sink,
                limits,
                connect_timeout,
                max_connections,
                sealing: parking_lot::RwLock::new(sealing),
                alarm: OnceLock::new(),
                connections: Mutex::new(None),
                log: debug_log::Log::default(),
                udp: Mutex::new(None),
            }),
            running: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Runs `f` on the core (local writes, reads for stats), then carries
    /// out what it asked for.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Node, Millis) -> R) -> R {
        self.shared.with_core(f)
    }

    /// Replaces the keyring (key rotation): the first key seals from now on,
    /// every key opens. An empty list turns encryption off.
    pub fn set_keys(&self, keys: &[[u8; KEY_BYTES]]) {
        let mut core = self.shared.core.lock();
        let sealing = sealing_for(keys, core.config().cluster_name.as_deref());
        core.set_frame_overhead(if sealing.is_some() { OVERHEAD } else { 0 });
        *self.shared.sealing.write() = sealing;
    }

    /// Turns the debug log on or off (`Signal::Log`).
    pub fn set_log(&self, on: bool) {
        self.shared.log.set(on);
    }

    /// Binds and starts gossiping; the outcome arrives as `Started` or
    /// `StartFailed` after the seeds' `NewPeer` events.
    pub fn start(&self, opts: StartOptions) {
        let shared = self.shared.clone();
        let running = self.running.clone();
        runtime().spawn(async move {
            let mut guard = running.lock().await;
            if guard.is_some() {
                shared.sink.deliver(vec![Signal::StartFailed {
                    message: "this gossiper is already started".into(),
                    code: "ERR_GOSSIPER_RUNNING".into(),
                }]);
                return;
            }
            match start_node(&shared, opts).await {
                Ok(r) => *guard = Some(r),
                Err((message, code)) => shared
                    .sink
                    .deliver(vec![Signal::StartFailed { message, code }]),
            }
        });
    }

    /// Stops gossip, closes the listener and every connection; with `leave`
    /// first tells a few peers that we are going. Ends with `Stopped`.
    pub fn stop(&self, leave: bool) {
        let shared = self.shared.clone();
        let running = self.running.clone();
        runtime().spawn(async move {
            let mut guard = running.lock().await;
            if let Some(r) = guard.take() {
                if leave {
                    announce_leave(&shared).await;
                }
                for t in &r.tasks {
                    t.abort();
                }
                for t in r.tasks {
                    let _ = t.await;
                }
                let connections = shared.connections.lock().take();
                if let Some(mut set) = connections {
                    set.abort_all();
                    while set.join_next().await.is_some() {}
                }
                shared.core.lock().stop();
                *shared.udp.lock() = None;
            }
            shared.sink.deliver(vec![Signal::Stopped]);
        });
    }
}

/// The name an observer gives itself: port 0 is not a valid peer name, so no
/// name from the network can ever be taken for it.
pub const OBSERVER_NAME: &str = "observer:0";

async fn start_node(shared: &Arc<Shared>, opts: StartOptions) -> Result<Running, (String, String)> {
    if shared.alarm.get().is_none() {
        let alarm = alarm::Alarm::new().map_err(|e| {
            let code = match e.raw_os_error() {
                Some(libc::EMFILE | libc::ENFILE) => "EMFILE",
                _ => "ERR_GOSSIPER_TIMER",
            };
            (
                format!("cannot make a timer: {}", io_reason(&e)),
                code.to_string(),
            )
        })?;
        let _ = shared.alarm.set(alarm);
    }
    let observer = shared.core.lock().config().observer;
    let listener = if observer {
        None
    } else {
        Some(listen(&opts).await?)
    };
    let (name, udp) = match &listener {
        Some(l) => {
            let local = l
                .local_addr()
                .map_err(|e| (e.to_string(), "ERR_GOSSIPER_LISTEN".to_string()))?;
            // probes and gossip datagrams, on the same address and port
            let udp = tokio::net::UdpSocket::bind(local).await.map_err(|e| {
                let code = match e.kind() {
                    std::io::ErrorKind::AddrInUse => "EADDRINUSE",
                    _ => "ERR_GOSSIPER_LISTEN",
                };
                (
                    format!("cannot listen on {local} (UDP): {}", io_reason(&e)),
                    code.to_string(),
                )
            })?;
            let name = opts
                .advertise
                .clone()
                .unwrap_or_else(|| resolve::peer_name(local));
            (name, Some(Arc::new(udp)))
        }
        None => (OBSERVER_NAME.to_string(), None),
    };
    *shared.udp.lock() = udp.clone();
    let seeds = opts.seeds.clone();
    *shared.connections.lock() = Some(tokio::task::JoinSet::new());
    shared.with_core(|core, now| core.start(&name, &seeds, now));
    shared.sink.deliver(vec![Signal::Started { name }]);
    let mut tasks = vec![tokio::spawn(driver::timer_loop(shared.clone()))];
    if let Some(listener) = listener {
        tasks.push(tokio::spawn(accept_loop(shared.clone(), listener)));
    }
    if let Some(udp) = udp {
        tasks.push(tokio::spawn(datagrams::receive_loop(shared.clone(), udp)));
    }
    Ok(Running { tasks })
}

async fn listen(opts: &StartOptions) -> Result<TcpListener, (String, String)> {
    let ip = resolve::bind_address(opts.address.as_deref()).await?;
    TcpListener::bind(SocketAddr::new(ip, opts.port))
        .await
        .map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::AddrInUse => "EADDRINUSE",
                std::io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
                std::io::ErrorKind::PermissionDenied => "EACCES",
                _ => "ERR_GOSSIPER_LISTEN",
            };
            let addr = SocketAddr::new(ip, opts.port);
            (
                format!("cannot listen on {addr}: {}", io_reason(&e)),
                code.to_string(),
            )
        })
}

/// An I/O error's text without Rust's "(os error N)" suffix: the code says it.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let admission = admission::Admission::new(shared.max_connections);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Ok((stream, from)) = accepted else {
            // out of descriptors or similar: back off instead of spinning
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (ticket, evicted) = admission::Admission::admit(&admission);
        if evicted {
            shared.with_core(|core, _| core.refused(crate::core::stats::Refusal::ConnectionLimit));
            shared.log(|| "too many connections: closed the one idle longest".into());
        }
        let task_shared = shared.clone();
        let id = ticket.id();
        let handle = conns.spawn(async move {
            connection::respond(&task_shared, stream, from, &ticket.progress).await;
            drop(ticket);
        });
        admission::Admission::serving(&admission, id, handle);
    }
}

/// Tells a few peers that we leave and waits (briefly) for those exchanges.
async fn announce_leave(shared: &Arc<Shared>) {
    let telling = shared.with_core(|core, now| core.leave(now));
    let wait = shared.limits.read_timeout.min(Duration::from_secs(2));
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        let running = {
            let core = shared.core.lock();
            telling.iter().any(|&id| core.exchange_running(id))
        };
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests;
