//! Carries the runtime's signals to JavaScript in batches: signals queue up
//! here, and one threadsafe-function call per batch hands the JavaScript side
//! everything queued so far as a single flat array. A burst of thousands of
//! events costs one wake-up of the JavaScript thread.
//!
//! The array is `[kind, ...fields, kind, ...fields]` with, per kind:
//! ```text
//! 0 NEW_PEER id name isMe      3 ALIVE id        6 STARTED name
//! 1 UPDATE   id key value      4 FAILED id       7 START_FAILED message code
//! 2 DELETE   id key            5 REMOVED id      8 STOPPED
//! ```

use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use napi::threadsafe_function::UnknownReturnValue;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use parking_lot::Mutex;

use super::values;
use crate::core::Event;
use crate::runtime::{Signal, Sink};

pub type EventsFn = ThreadsafeFunction<(), UnknownReturnValue, JsBatch, napi::Status, false, true>;
pub type KeepAliveFn = ThreadsafeFunction<(), UnknownReturnValue, (), napi::Status, false, false>;

#[derive(Default)]
struct Inner {
    queued: Vec<Signal>,
    scheduled: bool,
    tsfn: Option<Arc<EventsFn>>,
    /// A strong threadsafe function held while started: it keeps the Node
    /// process alive like a listening server does. Dropped on the JavaScript
    /// thread once `STOPPED` has been handed over.
    keep_alive: Option<KeepAliveFn>,
}

#[derive(Default)]
pub struct EventQueue {
    inner: Mutex<Inner>,
}

impl EventQueue {
    pub fn set_function(&self, tsfn: EventsFn) {
        self.inner.lock().tsfn = Some(Arc::new(tsfn));
    }

    pub fn set_keep_alive(&self, k: KeepAliveFn) {
        self.inner.lock().keep_alive = Some(k);
    }

    /// Everything queued so far, for the JavaScript thread.
    pub fn take(self: &Arc<Self>) -> JsBatch {
        let mut inner = self.inner.lock();
        inner.scheduled = false;
        JsBatch {
            signals: std::mem::take(&mut inner.queued),
            queue: self.clone(),
        }
    }

    fn release_keep_alive(&self) {
        let k = self.inner.lock().keep_alive.take();
        drop(k);
    }
}

impl Sink for EventQueue {
    fn deliver(&self, signals: Vec<Signal>) {
        let mut inner = self.inner.lock();
        inner.queued.extend(signals);
        if !inner.scheduled {
            if let Some(tsfn) = inner.tsfn.clone() {
                inner.scheduled = true;
                drop(inner);
                tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    }
}

pub struct JsBatch {
    signals: Vec<Signal>,
    queue: Arc<EventQueue>,
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

struct ArrayBuilder {
    env: sys::napi_env,
    array: sys::napi_value,
    len: u32,
}

impl ArrayBuilder {
    fn push(&mut self, v: sys::napi_value) -> napi::Result<()> {
        check(unsafe { sys::napi_set_element(self.env, self.array, self.len, v) })?;
        self.len += 1;
        Ok(())
    }

    fn num(&mut self, n: u32) -> napi::Result<()> {
        let mut v = ptr::null_mut();
        check(unsafe { sys::napi_create_uint32(self.env, n, &mut v) })?;
        self.push(v)
    }

    fn str(&mut self, s: &str) -> napi::Result<()> {
        let v = unsafe { values::js_string(self.env, s) }.map_err(|s| check(s).unwrap_err())?;
        self.push(v)
    }
}

impl ToNapiValue for JsBatch {
    unsafe fn to_napi_value(env: sys::napi_env, batch: Self) -> napi::Result<sys::napi_value> {
        let mut array = ptr::null_mut();
        check(unsafe { sys::napi_create_array(env, &mut array) })?;
        let mut b = ArrayBuilder { env, array, len: 0 };
        let mut stopped = false;
        for signal in batch.signals {
            match signal {
                Signal::Core(Event::NewPeer { peer, name, me }) => {
                    b.num(0)?;
                    b.num(peer)?;
                    b.str(&name)?;
                    let mut v = ptr::null_mut();
                    check(unsafe { sys::napi_get_boolean(env, me, &mut v) })?;
                    b.push(v)?;
                }
                Signal::Core(Event::Update { peer, key, value }) => {
                    b.num(1)?;
                    b.num(peer)?;
                    b.str(&key)?;
                    let v = unsafe { values::decode(env, &value) }
                        .map_err(|s| check(s).unwrap_err())?;
                    b.push(v)?;
                }
                Signal::Core(Event::Delete { peer, key }) => {
                    b.num(2)?;
                    b.num(peer)?;
                    b.str(&key)?;
                }
                Signal::Core(Event::Alive { peer }) => {
                    b.num(3)?;
                    b.num(peer)?;
                }
                Signal::Core(Event::Failed { peer }) => {
                    b.num(4)?;
                    b.num(peer)?;
                }
                Signal::Core(Event::Removed { peer }) => {
                    b.num(5)?;
                    b.num(peer)?;
                }
                Signal::Started { name } => {
                    b.num(6)?;
                    b.str(&name)?;
                }
                Signal::StartFailed { message, code } => {
                    b.num(7)?;
                    b.str(&message)?;
                    b.str(&code)?;
                    // not listening: nothing to keep the process alive for
                    // (ERR_GOSSIPER_RUNNING comes from a node that still runs)
                    if code != "ERR_GOSSIPER_RUNNING" {
                        stopped = true;
                    }
                }
                Signal::Stopped => {
                    b.num(8)?;
                    stopped = true;
                }
            }
        }
        if stopped {
            batch.queue.release_keep_alive();
        }
        Ok(array)
    }
}
