//! Carries the runtime's signals to JavaScript in batches. Every gossiper of
//! a JavaScript realm shares one `Hub`: signals of all of them queue up here,
//! and one threadsafe-function call hands JavaScript everything queued so far.
//! A hundred gossipers exchanging at once cost one wake-up of the JavaScript
//! thread, not a hundred; and wake-ups are at least `MIN_GAP` apart, so a
//! steady trickle of exchanges costs at most about sixty a second.
//!
//! A batch is `[nums, strs, vals]`: `nums` a Float64Array of records
//! `kind, node, ...fields`, where string fields are indexes into `strs` (keys
//! repeat a lot, so each distinct string is created once per batch) and
//! values are numbers inline or indexes into `vals`:
//! the kinds and their fields are listed in `records.rs`.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use napi::threadsafe_function::UnknownReturnValue;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use super::records::Record;
use super::values;
use crate::core::Event;
use crate::runtime::{Signal, Sink};

pub type EventsFn = ThreadsafeFunction<(), UnknownReturnValue, JsBatch, napi::Status, false, true>;
/// Never called: while it exists it holds the process open.
pub type KeepAliveFn =
    ThreadsafeFunction<(), UnknownReturnValue, JsBatch, napi::Status, false, false>;

/// Shortest time between two wake-ups of the JavaScript thread: what is
/// queued meanwhile goes in the next batch. 16 ms (a display frame) is
/// nothing beside a gossip round, and a wake-up costs the JavaScript thread
/// tens of microseconds whatever it carries.
const MIN_GAP: Duration = Duration::from_millis(16);

#[derive(Default)]
struct Inner {
    queued: Vec<(u32, Signal)>,
    scheduled: bool,
    /// When JavaScript last took a batch.
    last_take: Option<Instant>,
    tsfn: Option<Arc<EventsFn>>,
    /// Per started gossiper, a strong threadsafe function: it keeps the Node
    /// process alive like a listening server does. Dropped on the JavaScript
    /// thread once that gossiper's `STOPPED` has been handed over.
    keep_alive: HashMap<u32, KeepAliveFn>,
    /// The realm is gone (see `teardown`): signals are dropped.
    closed: bool,
}

/// The signal queue of one JavaScript realm.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next_node: AtomicU32,
    /// The ArrayBuffer every batch's records are written to; only touched on
    /// the JavaScript thread.
    records: Mutex<Option<RecordBuffer>>,
}

/// A reused ArrayBuffer: a fresh one per batch left megabytes of garbage
/// outside the JavaScript heap between collections (and a malloc heap that
/// kept growing). JavaScript is done with a batch's records before the next
/// batch is written: `dispatch` reads them at once and copies what it defers.
struct RecordBuffer {
    buffer: sys::napi_ref,
    data: *mut std::ffi::c_void,
    bytes: usize,
}

/// A records buffer up to this size is kept whatever the batch; a larger one
/// only while batches fill a quarter of it.
const KEEP_BYTES: usize = 1 << 20;

// SAFETY: the reference and the pointer are only used on the JavaScript
// thread of the realm the hub belongs to (in `JsBatch::to_napi_value`).
unsafe impl Send for RecordBuffer {}

impl Hub {
    /// A Float64Array of `nums` over the realm's reused ArrayBuffer, grown
    /// (to a power of two) when too small. JavaScript thread only.
    fn records_view(&self, env: sys::napi_env, nums: &[f64]) -> napi::Result<sys::napi_value> {
        let bytes = std::mem::size_of_val(nums);
        let mut records = self.records.lock();
        let mut buffer = ptr::null_mut();
        // a buffer grown by a burst is let go once batches are small again
        let fits =
            |r: &RecordBuffer| r.bytes >= bytes && (r.bytes <= KEEP_BYTES || bytes * 4 >= r.bytes);
        let reused = match records.as_ref() {
            Some(r) if fits(r) => {
                check(unsafe { sys::napi_get_reference_value(env, r.buffer, &mut buffer) })?;
                !buffer.is_null()
            }
            _ => false,
        };
        if !reused {
            let capacity = bytes.max(4096).next_power_of_two();
            let mut data: *mut std::ffi::c_void = ptr::null_mut();
            check(unsafe { sys::napi_create_arraybuffer(env, capacity, &mut data, &mut buffer) })?;
            let mut reference = ptr::null_mut();
            check(unsafe { sys::napi_create_reference(env, buffer, 1, &mut reference) })?;
            if let Some(old) = records.replace(RecordBuffer {
                buffer: reference,
                data,
                bytes: capacity,
            }) {
                check(unsafe { sys::napi_delete_reference(env, old.buffer) })?;
            }
        }
        let r = records.as_ref().expect("set above");
        if bytes > 0 {
            // SAFETY: the buffer holds `r.bytes >= bytes` bytes, and nothing
            // else writes to it (JavaScript thread only).
            unsafe {
                ptr::copy_nonoverlapping(nums.as_ptr().cast::<u8>(), r.data.cast::<u8>(), bytes)
            };
        }
        let mut array = ptr::null_mut();
        check(unsafe {
            sys::napi_create_typedarray(
                env,
                sys::TypedarrayType::float64_array,
                nums.len(),
                buffer,
                0,
                &mut array,
            )
        })?;
        Ok(array)
    }

    pub fn set_function(&self, tsfn: EventsFn) {
        self.inner.lock().tsfn = Some(Arc::new(tsfn));
    }

    /// A sink for one more gossiper, with its own node number.
    pub fn sink(self: &Arc<Self>) -> Arc<NodeSink> {
        Arc::new(NodeSink {
            node: self.next_node.fetch_add(1, Ordering::Relaxed),
            hub: self.clone(),
        })
    }

    /// Everything queued so far, for the JavaScript thread.
    pub fn take(self: &Arc<Self>) -> JsBatch {
        let mut inner = self.inner.lock();
        inner.scheduled = false;
        inner.last_take = Some(Instant::now());
        JsBatch {
            signals: std::mem::take(&mut inner.queued),
            hub: self.clone(),
        }
    }

    /// The realm's environment is being torn down: its threadsafe functions
    /// are released here, on its JavaScript thread, and nothing is queued
    /// from now on (no one would ever take it).
    pub fn close(&self) {
        let (tsfn, keep_alive) = {
            let mut inner = self.inner.lock();
            inner.closed = true;
            inner.queued.clear();
            (inner.tsfn.take(), std::mem::take(&mut inner.keep_alive))
        };
        drop(tsfn);
        drop(keep_alive);
    }

    fn push(&self, node: u32, signals: Vec<Signal>) {
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        inner.queued.extend(signals.into_iter().map(|s| (node, s)));
        if !inner.scheduled {
            if let Some(tsfn) = inner.tsfn.clone() {
                inner.scheduled = true;
                let wait = inner
                    .last_take
                    .map_or(Duration::ZERO, |t| MIN_GAP.saturating_sub(t.elapsed()));
                drop(inner);
                if wait.is_zero() {
                    tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
                } else {
                    crate::runtime::runtime().spawn(async move {
                        tokio::time::sleep(wait).await;
                        tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
                    });
                }
            }
        }
    }
}

/// Where one gossiper's runtime delivers its signals.
pub struct NodeSink {
    pub node: u32,
    hub: Arc<Hub>,
}

impl NodeSink {
    pub fn set_keep_alive(&self, k: KeepAliveFn) {
        self.hub.inner.lock().keep_alive.insert(self.node, k);
    }
}

impl Sink for NodeSink {
    fn deliver(&self, signals: Vec<Signal>) {
        self.hub.push(self.node, signals);
    }
}

pub struct JsBatch {
    signals: Vec<(u32, Signal)>,
    hub: Arc<Hub>,
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(
            napi::Status::GenericFailure,
            format!("N-API call failed ({status})"),
        ))
    }
}

fn dec<T>(r: values::Dec<T>) -> napi::Result<T> {
    r.map_err(|s| check(s).unwrap_err())
}

/// A JavaScript array filled one element at a time.
struct JsArray {
    env: sys::napi_env,
    array: sys::napi_value,
    len: u32,
}

impl JsArray {
    fn new(env: sys::napi_env) -> napi::Result<Self> {
        let mut array = ptr::null_mut();
        check(unsafe { sys::napi_create_array(env, &mut array) })?;
        Ok(JsArray { env, array, len: 0 })
    }

    /// Appends `v`, returning its index.
    fn push(&mut self, v: sys::napi_value) -> napi::Result<f64> {
        check(unsafe { sys::napi_set_element(self.env, self.array, self.len, v) })?;
        self.len += 1;
        Ok(f64::from(self.len - 1))
    }
}

/// Builds the three parts of a batch.
struct BatchWriter<'a> {
    env: sys::napi_env,
    nums: Vec<f64>,
    strs: JsArray,
    known: FxHashMap<&'a str, f64>,
    vals: JsArray,
}

impl<'a> BatchWriter<'a> {
    fn str(&mut self, s: &'a str) -> napi::Result<()> {
        let index = match self.known.get(s) {
            Some(&i) => i,
            None => {
                let v = dec(unsafe { values::js_string(self.env, s) })?;
                let i = self.strs.push(v)?;
                self.known.insert(s, i);
                i
            }
        };
        self.nums.push(index);
        Ok(())
    }

    fn record(&mut self, kind: Record, node: u32) {
        self.nums.push(f64::from(kind as u8));
        self.nums.push(f64::from(node));
    }

    fn signal(&mut self, node: u32, signal: &'a Signal) -> napi::Result<()> {
        match signal {
            Signal::Core(Event::NewPeer { peer, name, me }) => {
                self.record(Record::NewPeer, node);
                self.nums.push(f64::from(*peer));
                self.str(name)?;
                self.nums.push(if *me { 1.0 } else { 0.0 });
            }
            Signal::Core(Event::Update { peer, key, value }) => match values::as_number(value) {
                Some(n) => {
                    self.record(Record::UpdateNum, node);
                    self.nums.push(f64::from(*peer));
                    self.str(key)?;
                    self.nums.push(n);
                }
                None => {
                    self.record(Record::Update, node);
                    self.nums.push(f64::from(*peer));
                    self.str(key)?;
                    let v = dec(unsafe { values::decode(self.env, value) })?;
                    let i = self.vals.push(v)?;
                    self.nums.push(i);
                }
            },
            Signal::Core(Event::Delete { peer, key }) => {
                self.record(Record::Delete, node);
                self.nums.push(f64::from(*peer));
                self.str(key)?;
            }
            Signal::Core(Event::Alive { peer }) => {
                self.record(Record::Alive, node);
                self.nums.push(f64::from(*peer));
            }
            Signal::Core(Event::Failed { peer }) => {
                self.record(Record::Failed, node);
                self.nums.push(f64::from(*peer));
            }
            Signal::Core(Event::Left { peer }) => {
                self.record(Record::Left, node);
                self.nums.push(f64::from(*peer));
            }
            Signal::Core(Event::Removed { peer }) => {
                self.record(Record::Removed, node);
                self.nums.push(f64::from(*peer));
            }
            Signal::Started { name } => {
                self.record(Record::Started, node);
                self.str(name)?;
            }
            Signal::StartFailed { message, code } => {
                self.record(Record::StartFailed, node);
                self.str(message)?;
                self.str(code)?;
            }
            Signal::Stopped => self.record(Record::Stopped, node),
            Signal::Core(Event::Warning {
                warning,
                peer,
                message,
            }) => {
                self.record(Record::Warning, node);
                self.str(warning.code())?;
                self.str(peer)?;
                self.str(message)?;
            }
            Signal::Log { message } => {
                self.record(Record::Log, node);
                self.str(message)?;
            }
        }
        Ok(())
    }
}

/// Whether a gossiper stops holding the process open after this signal.
pub(super) fn ends_keep_alive(signal: &Signal) -> bool {
    match signal {
        Signal::Stopped => true,
        // not listening: nothing to keep the process alive for
        // (ERR_GOSSIPER_RUNNING comes from a node that still runs)
        Signal::StartFailed { code, .. } => code != "ERR_GOSSIPER_RUNNING",
        _ => false,
    }
}

impl ToNapiValue for JsBatch {
    unsafe fn to_napi_value(env: sys::napi_env, batch: Self) -> napi::Result<sys::napi_value> {
        let mut w = BatchWriter {
            env,
            nums: Vec::with_capacity(batch.signals.len() * 5),
            strs: JsArray::new(env)?,
            known: FxHashMap::default(),
            vals: JsArray::new(env)?,
        };
        let mut released = Vec::new();
        for (node, signal) in &batch.signals {
            w.signal(*node, signal)?;
            if ends_keep_alive(signal) {
                released.push(*node);
            }
        }
        if !released.is_empty() {
            let gone: Vec<_> = {
                let mut inner = batch.hub.inner.lock();
                released
                    .iter()
                    .filter_map(|n| inner.keep_alive.remove(n))
                    .collect()
            };
            drop(gone);
        }
        let nums = batch.hub.records_view(env, &w.nums)?;
        let mut out = JsArray::new(env)?;
        out.push(nums)?;
        out.push(w.strs.array)?;
        out.push(w.vals.array)?;
        Ok(out.array)
    }
}
