//! The transport floor: what node-gossip's wire protocol costs the kernel and
//! tokio alone, with no gossip in it. One thread (as gossiper's default
//! runtime) runs both ends of `--rate` exchanges a second over loopback, each
//! the protocol's three messages (REQUEST, FIRST_RESPONSE, SECOND_RESPONSE)
//! of fixed sizes; the messages are zeros and nobody parses them. It prints
//! the process's CPU (user + system, getrusage) as a percentage of one core.
//!
//!   npm run bench:floor       # = node bench/floor.js, which runs this and keeps the table
//!   tcp_floor [--seconds 10] [--sizes 2500,2700,1200]    # the standard rows
//!   tcp_floor --rate 236 --together 2 [--reuse] ...       # one row
//!
//! Without `--reuse`, each exchange opens its own connection and both ends
//! shut it down after, as node-gossip does and as gossiper must with it.
//! With `--reuse`, the exchanges run over 16 connections kept open: what a
//! persistent-connection extension between gossiper peers could reach.
//! The defaults stand for the N = 100 cluster benchmark's steady state with
//! node-gossip's three messages: 100 peers starting a little over two
//! exchanges a round each (fan-out 2 plus pushes), a 100-entry digest and
//! the updates of a round. When the protocol or the benchmark changes, take
//! the rate and sizes from the cluster benchmark's bytes/peer/round again.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[derive(Clone, Copy)]
struct Options {
    rate: f64,
    seconds: f64,
    sizes: [usize; 3],
    together: usize,
    reuse: bool,
}

/// The rows to measure: the one the options describe, or with none of
/// `--rate`, `--together`, `--reuse` the standard set (`STANDARD`).
fn rows() -> Vec<Options> {
    let mut o = Options {
        rate: 236.0,
        seconds: 10.0,
        sizes: [2500, 2700, 1200],
        together: 2,
        reuse: false,
    };
    let mut one_row = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        one_row |= matches!(a.as_str(), "--rate" | "--together" | "--reuse");
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--rate" => {
                o.rate = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--rate: a number"))
            }
            "--seconds" => {
                o.seconds = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--seconds: a number"))
            }
            "--sizes" => {
                let v: Vec<usize> = value().split(',').filter_map(|s| s.parse().ok()).collect();
                if v.len() != 3 || v.contains(&0) {
                    usage("--sizes: three byte counts, e.g. 2500,2700,1200");
                }
                o.sizes = [v[0], v[1], v[2]];
            }
            "--together" => {
                o.together = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--together: a count"))
            }
            "--reuse" => o.reuse = true,
            _ => usage(&format!("unknown option {a}")),
        }
    }
    if !(o.rate > 0.0 && o.seconds > 0.0 && o.together > 0) {
        usage("--rate, --seconds and --together must be positive");
    }
    if one_row {
        return vec![o];
    }
    STANDARD
        .iter()
        .map(|&(rate, together, reuse)| Options {
            rate,
            together,
            reuse,
            ..o
        })
        .collect()
}

/// (exchanges a second, started together, kept connections): N = 100 at
/// fan-out 2, first as one node starts them, then as the runtime's grid of
/// 8 phases a round starts 100 nodes' rounds (about 30 at once); then
/// fan-out 1 (node-gossip's) on that grid.
const STANDARD: [(f64, usize, bool); 6] = [
    (236.0, 2, false),
    (236.0, 2, true),
    (236.0, 30, false),
    (236.0, 30, true),
    (100.0, 12, false),
    (100.0, 12, true),
];

fn usage(why: &str) -> ! {
    eprintln!("tcp_floor: {why}\nusage: tcp_floor [--rate R] [--seconds S] [--sizes A,B,C] [--together K] [--reuse]");
    std::process::exit(2)
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: rusage is plain integers, valid zeroed; getrusage fills it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A buffer that holds the largest of the three messages.
fn message_buffer(sizes: [usize; 3]) -> Vec<u8> {
    vec![0u8; sizes.into_iter().max().unwrap_or(0)]
}

/// One exchange seen from the initiator: REQUEST out, FIRST_RESPONSE in,
/// SECOND_RESPONSE out.
async fn initiate(stream: &mut TcpStream, sizes: [usize; 3]) -> std::io::Result<()> {
    let mut buf = message_buffer(sizes);
    stream.write_all(&buf[..sizes[0]]).await?;
    stream.read_exact(&mut buf[..sizes[1]]).await?;
    stream.write_all(&buf[..sizes[2]]).await
}

/// The responder's side of exchanges on one connection, until it closes.
async fn respond(mut stream: TcpStream, sizes: [usize; 3]) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = message_buffer(sizes);
    loop {
        match stream.read_exact(&mut buf[..sizes[0]]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        stream.write_all(&buf[..sizes[1]]).await?;
        stream.read_exact(&mut buf[..sizes[2]]).await?;
    }
    stream.shutdown().await
}

async fn fresh_exchange(addr: std::net::SocketAddr, sizes: [usize; 3]) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    initiate(&mut stream, sizes).await?;
    stream.shutdown().await?;
    // wait for the responder's end, as gossiper's initiator does
    let mut rest = [0u8; 64];
    while stream.read(&mut rest).await? > 0 {}
    Ok(())
}

async fn run(o: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sizes = o.sizes;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(respond(stream, sizes));
        }
    });

    // --reuse: a pool of open connections the exchanges take turns on
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<bool>();
    let pool = if o.reuse {
        Some(kept_connections(addr, 16).await?)
    } else {
        None
    };

    // a round starts its exchanges together (fanout), rounds spread evenly
    let period = Duration::from_secs_f64(o.together as f64 / o.rate);
    let warm_up = Duration::from_secs(2);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut measuring: Option<(Instant, Duration, u64)> = None;
    let mut completed: u64 = 0;
    let mut failed: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                for _ in 0..o.together { start(&pool, &done_tx, addr, sizes) }
            }
            Some(ok) = done_rx.recv() => {
                if ok { completed += 1 } else { failed += 1 }
            }
        }
        let now = Instant::now();
        match measuring {
            None if now - started >= warm_up => measuring = Some((now, cpu_time(), completed)),
            Some((from, cpu0, n0)) if now - from >= Duration::from_secs_f64(o.seconds) => {
                let wall = (now - from).as_secs_f64();
                let cpu = (cpu_time() - cpu0).as_secs_f64();
                let n = completed - n0;
                println!(
                    "| {} | {:.0}/s | {} | {} | {:.0} | {:.2} % | {:.1} µs | {} |",
                    if o.reuse {
                        "16 kept connections"
                    } else {
                        "a connection per exchange"
                    },
                    o.rate,
                    o.together,
                    sizes.map(|s| s.to_string()).join(" / "),
                    n as f64 / wall,
                    100.0 * cpu / wall,
                    1e6 * cpu / n.max(1) as f64,
                    failed,
                );
                return Ok(());
            }
            _ => {}
        }
    }
}

/// Starts one exchange: on a new connection, or on the next free kept one.
fn start(
    pool: &Option<Pool>,
    done: &mpsc::UnboundedSender<bool>,
    addr: std::net::SocketAddr,
    sizes: [usize; 3],
) {
    let done = done.clone();
    match pool {
        None => {
            tokio::spawn(async move {
                let ok = fresh_exchange(addr, sizes).await.is_ok();
                let _ = done.send(ok);
            });
        }
        Some((tx, rx)) => {
            let (tx, rx) = (tx.clone(), rx.clone());
            tokio::spawn(async move {
                let Some(mut stream) = rx.lock().await.recv().await else {
                    return;
                };
                let ok = initiate(&mut stream, sizes).await.is_ok();
                let _ = tx.send(stream);
                let _ = done.send(ok);
            });
        }
    }
}

type Pool = (
    mpsc::UnboundedSender<TcpStream>,
    std::sync::Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<TcpStream>>>,
);

async fn kept_connections(addr: std::net::SocketAddr, n: usize) -> std::io::Result<Pool> {
    let (tx, rx) = mpsc::unbounded_channel();
    for _ in 0..n {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let _ = tx.send(stream);
    }
    Ok((tx, std::sync::Arc::new(tokio::sync::Mutex::new(rx))))
}

fn main() {
    let rows = rows();
    println!(
        "| transport | exchanges asked | started together | message bytes | exchanges/s done | \
         CPU, % of one core | CPU per exchange | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for o in rows {
        // a runtime per row, so no task of one row runs in the next
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        if let Err(e) = rt.block_on(run(o)) {
            eprintln!("tcp_floor: {e}");
            std::process::exit(1);
        }
    }
}
