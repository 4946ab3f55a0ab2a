//! The node runtime on tokio: one listener and one gossip timer per node
//! (and one liveness sweep for all of them),
//! one task per exchange, all on a single runtime shared by every node of the
//! process. The core is behind a mutex held only while it computes; events
//! leave through the `Sink` in the order the core produced them.

mod admission;
mod debug_log;
mod eager;
mod exchange;
mod liveness;
mod resolve;
mod transport;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::core::catch_up::CatchUpChain;
use crate::core::stats::Refusal;
use crate::core::time::{Millis, RoundClock};
use crate::core::{Config, Event, Node};
use crate::wire::seal::{Keyring, KEY_BYTES};
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
}

pub trait Sink: Send + Sync + 'static {
    /// Must not block: it is called with the node's lock held so that
    /// signals keep their order.
    fn deliver(&self, signals: Vec<Signal>);
}

/// Connection-level settings, beside the core's `Config`.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub read_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub max_connections: usize,
    /// 32-byte keys; when any is set every message is sealed, the first key
    /// sealing and all of them tried to open.
    pub keys: Vec<[u8; KEY_BYTES]>,
    /// Push news at once instead of waiting for the next round (see `eager`).
    pub push_on_change: bool,
    /// Exchanges started at once, one after another, with a peer when the
    /// last one had to leave updates out for lack of room: a big state moves
    /// in one go instead of one message a round. 0: wait for the next round.
    pub catch_up_exchanges: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            read_timeout_ms: 5000,
            connect_timeout_ms: 2000,
            max_connections: 256,
            keys: Vec::new(),
            push_on_change: true,
            catch_up_exchanges: 8,
        }
    }
}

/// Where to listen: `address` None means the IPv4 address the host name
/// resolves to (node-gossip's choice).
#[derive(Clone, Debug)]
pub struct StartOptions {
    pub port: u16,
    pub address: Option<String>,
    pub seeds: Vec<String>,
}

/// The process-wide runtime. One worker thread by default (gossip is light
/// and one thread keeps every node's lock uncontended); `GOSSIPER_THREADS`
/// raises it.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let threads = std::env::var("GOSSIPER_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| (1..=64).contains(n))
            .unwrap_or(1);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("gossiper")
            .enable_all()
            .build()
            .expect("cannot start the gossiper runtime")
    })
}

pub(crate) struct Shared {
    core: Mutex<Node>,
    sink: Arc<dyn Sink>,
    net: NetConfig,
    limits: ConnLimits,
    sealing: parking_lot::RwLock<Option<Sealing>>,
    epoch: Instant,
    /// The time the core sees: real time held back while our own rounds run
    /// late (see `RoundClock`).
    clock: Mutex<RoundClock>,
    push: eager::Trigger,
    /// Its chain of catch-up exchanges (see `exchange::initiate`).
    catch_up: Mutex<CatchUpChain>,
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

    /// Real milliseconds since this node was made.
    fn real_ms(&self, at: Instant) -> Millis {
        at.saturating_duration_since(self.epoch).as_millis() as Millis
    }

    fn now(&self) -> Millis {
        self.clock.lock().at(self.real_ms(Instant::now()))
    }

    /// Runs `f` on the core and passes on the events it produced.
    fn with_core<R>(&self, f: impl FnOnce(&mut Node, Millis) -> R) -> R {
        let now = self.now();
        let mut core = self.core.lock();
        let r = f(&mut core, now);
        let events = core.take_events();
        if !events.is_empty() {
            if self.net.push_on_change && eager::is_news(&events) {
                self.push.wake();
            }
            self.sink
                .deliver(events.into_iter().map(Signal::Core).collect());
        }
        r
    }

    fn count(&self, why: Refusal) {
        self.core.lock().stats.refuse(why);
    }
}

struct Running {
    tasks: Vec<JoinHandle<()>>,
    exchanges: Arc<Mutex<tokio::task::JoinSet<()>>>,
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
            read_timeout: Duration::from_millis(net.read_timeout_ms),
        };
        let generation = crate::core::time::wall_clock_version();
        let sealing =
            parking_lot::RwLock::new(sealing_for(&net.keys, config.cluster_name.as_deref()));
        let clock = RoundClock::new(config.gossip_interval_ms);
        let node = Node::new(config, generation, generation ^ 0x9e37_79b9_7f4a_7c15);
        GossipNode {
            shared: Arc::new(Shared {
                core: Mutex::new(node),
                sink,
                net,
                limits,
                sealing,
                epoch: Instant::now(),
                clock: Mutex::new(clock),
                push: eager::Trigger::default(),
                catch_up: Mutex::new(CatchUpChain::default()),
            }),
            running: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Runs `f` on the core (local writes, reads for stats).
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Node, Millis) -> R) -> R {
        self.shared.with_core(f)
    }

    /// How far this node's own rounds fell behind, in all: time its clock
    /// was held back (see `RoundClock`).
    pub fn stalled_ms(&self) -> Millis {
        self.shared.clock.lock().held()
    }

    /// Runs a local write on the core; a write that succeeded is pushed to
    /// peers at once when `push_on_change` is on.
    pub fn write<R, E>(&self, f: impl FnOnce(&mut Node, Millis) -> Result<R, E>) -> Result<R, E> {
        let r = self.shared.with_core(f);
        if r.is_ok() && self.shared.net.push_on_change {
            self.shared.push.wake();
        }
        r
    }

    /// Replaces the keyring (key rotation): the first key seals from now on,
    /// every key opens. An empty list turns encryption off.
    pub fn set_keys(&self, keys: &[[u8; KEY_BYTES]]) {
        let cluster = self.shared.core.lock().config().cluster_name.clone();
        *self.shared.sealing.write() = sealing_for(keys, cluster.as_deref());
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
                r.exchanges.lock().abort_all();
                liveness::unwatch(&shared);
                shared.clock.lock().no_rounds();
                shared.core.lock().stop();
            }
            shared.sink.deliver(vec![Signal::Stopped]);
        });
    }
}

/// The name an observer gives itself: port 0 is not a valid peer name, so no
/// name from the network can ever be taken for it.
pub const OBSERVER_NAME: &str = "observer:0";

async fn start_node(shared: &Arc<Shared>, opts: StartOptions) -> Result<Running, (String, String)> {
    let observer = shared.core.lock().config().observer;
    let listener = if observer {
        None
    } else {
        Some(listen(&opts).await?)
    };
    let name = match &listener {
        Some(l) => {
            let local = l
                .local_addr()
                .map_err(|e| (e.to_string(), "ERR_GOSSIPER_LISTEN".to_string()))?;
            resolve::peer_name(local)
        }
        None => OBSERVER_NAME.to_string(),
    };
    let seeds = resolve::seed_names(&opts.seeds).await;
    shared.with_core(|core, now| core.start(&name, &seeds, now));
    shared.sink.deliver(vec![Signal::Started { name }]);

    let exchanges = Arc::new(Mutex::new(tokio::task::JoinSet::new()));
    let mut tasks = vec![tokio::spawn(gossip_loop(shared.clone(), exchanges.clone()))];
    let check_every = shared.core.lock().liveness_check_interval();
    liveness::watch(shared, Duration::from_millis(check_every));
    if shared.net.push_on_change && !observer {
        tasks.push(tokio::spawn(eager::push_loop(
            shared.clone(),
            exchanges.clone(),
        )));
    }
    if let Some(listener) = listener {
        tasks.push(tokio::spawn(accept_loop(shared.clone(), listener)));
    }
    Ok(Running { tasks, exchanges })
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
            (format!("cannot listen on {addr}: {e}"), code.to_string())
        })
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let admission = admission::Admission::new(shared.net.max_connections);
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
            shared.count(Refusal::ConnectionLimit);
            if debug_log::enabled() {
                let name = shared.core.lock().name().clone();
                debug_log::log(
                    &name,
                    format_args!("too many connections: closed the one idle longest"),
                );
            }
        }
        shared.core.lock().stats.connections_accepted += 1;
        let task_shared = shared.clone();
        let id = ticket.id();
        let handle = conns.spawn(async move {
            exchange::respond(&task_shared, stream, from, &ticket.progress).await;
            drop(ticket);
        });
        admission::Admission::serving(&admission, id, handle);
    }
}

/// Rounds at a random phase: nodes started together (a process running many,
/// a fleet restarted at once) would otherwise exchange all at the same
/// instant, and news would travel one hop a round instead of several.
async fn gossip_loop(shared: Arc<Shared>, exchanges: Arc<Mutex<tokio::task::JoinSet<()>>>) {
    let interval = Duration::from_millis(shared.core.lock().config().gossip_interval_ms.max(1));
    let first = first_round(interval);
    let mut timer = tokio::time::interval_at(first, interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let due_ms = |at: tokio::time::Instant| shared.real_ms(at.into_std());
    shared.clock.lock().rounds_from(due_ms(first));
    loop {
        let due = timer.tick().await;
        // `Delay`, as the clock assumes: a late round puts the next one a
        // whole interval after it
        let ran = tokio::time::Instant::now();
        shared.clock.lock().round(due_ms(due), due_ms(ran));
        let requests = shared.with_core(|core, now| {
            let targets = core.tick(now);
            requests_for(core, targets)
        });
        spawn_exchanges(&shared, &mut exchanges.lock(), requests);
    }
}

/// Phases per round: a node's rounds start on one of `PHASES` points of a
/// grid shared by the process, so nodes in one process wake up together in
/// groups rather than one by one (a wake-up costs more than a small round),
/// while news still moves up to `PHASES` hops a round.
const PHASES: u32 = 8;

/// When a node's first round starts: at a random phase of the process's grid,
/// within one round from now.
fn first_round(interval: Duration) -> tokio::time::Instant {
    static GRID: OnceLock<tokio::time::Instant> = OnceLock::new();
    let grid = *GRID.get_or_init(tokio::time::Instant::now);
    let slot = interval / PHASES;
    let now = tokio::time::Instant::now();
    if slot.is_zero() {
        return now + interval;
    }
    // the next grid point, then a random whole number of slots on
    let slot_ns = slot.as_nanos();
    let to_next = slot_ns - now.duration_since(grid).as_nanos() % slot_ns;
    now + Duration::from_nanos(to_next as u64) + slot * fastrand::u32(0..PHASES)
}

/// One REQUEST per target, all built under the same lock.
fn requests_for(core: &mut Node, targets: Vec<Arc<str>>) -> Vec<(Arc<str>, Vec<u8>)> {
    targets.into_iter().map(|t| (t, core.request())).collect()
}

/// Starts one exchange per request in `set`, first reaping finished ones.
fn spawn_exchanges(
    shared: &Arc<Shared>,
    set: &mut tokio::task::JoinSet<()>,
    requests: Vec<(Arc<str>, Vec<u8>)>,
) {
    while set.try_join_next().is_some() {}
    for (target, request) in requests {
        let shared = shared.clone();
        set.spawn(async move { exchange::initiate(&shared, &target, request).await });
    }
}

/// Pushes our leave to a few peers and waits (briefly) for the exchanges.
async fn announce_leave(shared: &Arc<Shared>) {
    let requests = shared.with_core(|core, _| {
        let targets = core.leave();
        requests_for(core, targets)
    });
    let mut set = tokio::task::JoinSet::new();
    spawn_exchanges(shared, &mut set, requests);
    let wait = Duration::from_millis(shared.net.read_timeout_ms.min(2000));
    let _ = tokio::time::timeout(wait, async { while set.join_next().await.is_some() {} }).await;
}

#[cfg(test)]
mod tests;
