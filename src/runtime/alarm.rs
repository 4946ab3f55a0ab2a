//! A node's alarm clock: wakes its timer task at the core's next deadline,
//! and only then.
//!
//! A quiet node wakes a few times per probe period, and each wake-up of a
//! sleeping thread costs far more than the work it does; in a cluster of
//! one node per process that is nearly all a node costs. tokio's timer
//! wheel parks the thread only until the start of the wheel slot a far
//! deadline falls in (slots of 64 ms beyond the first 64 ms), then again
//! until the deadline itself: two wake-ups per timer. On Linux a timerfd
//! set to the deadline makes the reactor's `epoll_wait` return once, at
//! that time. Elsewhere tokio's timer does it.
//!
//! The alarm is set under the core's lock, so that the last deadline set is
//! the core's latest.

use crate::core::time::Millis;

/// What an alarm that rang is set to: no deadline, so that the next `set`
/// after it rang sets it again even to the same time.
const RUNG: u64 = u64::MAX - 1;

#[cfg(target_os = "linux")]
pub(super) use timerfd::Alarm;

#[cfg(not(target_os = "linux"))]
pub(super) use wheel::Alarm;

#[cfg(target_os = "linux")]
mod timerfd {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    use super::{Millis, RUNG};

    pub struct Alarm {
        fd: AsyncFd<OwnedFd>,
        /// What it is set to (`u64::MAX`: nothing), so that setting it again
        /// to the same costs no system call; `RUNG` once it rang.
        at: AtomicU64,
    }

    impl Alarm {
        /// A new alarm, not set. Needs the runtime's reactor.
        pub fn new() -> io::Result<Self> {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            // SAFETY: `fd` is an open descriptor that the `AsyncFd` owns
            // from here on; nothing else closes or replaces it.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(io::Error::from)?;
            Ok(Alarm {
                fd,
                at: AtomicU64::new(u64::MAX),
            })
        }

        /// Rings at `at` (the runtime's clock), or never for `None`.
        pub fn set(&self, at: Option<Millis>) {
            let raw = at.unwrap_or(u64::MAX);
            if self.at.swap(raw, Ordering::Relaxed) == raw {
                return;
            }
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // an all-zero value disarms
            let value = at.map_or(zero, |at| {
                let t = super::super::epoch_monotonic() + Duration::from_millis(at);
                Timespec {
                    tv_sec: t.as_secs() as _,
                    tv_nsec: t.subsec_nanos() as _,
                }
            });
            let spec = Itimerspec {
                it_interval: zero,
                it_value: value,
            };
            // it cannot fail for a valid descriptor and time
            let _ = timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::ABSTIME, &spec);
        }

        /// Waits until the alarm rings.
        pub async fn rung(&self) {
            loop {
                let Ok(mut guard) = self.fd.readable().await else {
                    // the reactor is gone: the runtime is shutting down
                    return std::future::pending().await;
                };
                let mut expirations = [0u8; 8];
                let read = rustix::io::read(guard.get_inner(), &mut expirations);
                // consumed, or moved by `set` since it became readable
                guard.clear_ready();
                if read.is_ok() {
                    // whatever the core's deadline is now, set it again
                    self.at.store(RUNG, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod wheel {
    use std::io;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::{Millis, RUNG};

    pub struct Alarm {
        /// `u64::MAX`: nothing; `RUNG` once it rang.
        at: AtomicU64,
        moved: tokio::sync::Notify,
    }

    impl Alarm {
        pub fn new() -> io::Result<Self> {
            Ok(Alarm {
                at: AtomicU64::new(u64::MAX),
                moved: tokio::sync::Notify::new(),
            })
        }

        pub fn set(&self, at: Option<Millis>) {
            let raw = at.unwrap_or(u64::MAX);
            if self.at.swap(raw, Ordering::AcqRel) != raw {
                self.moved.notify_one();
            }
        }

        pub async fn rung(&self) {
            loop {
                let at = self.at.load(Ordering::Acquire);
                if at == u64::MAX || at == RUNG {
                    self.moved.notified().await;
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(super::super::instant_at(at)) => {
                        self.at.store(RUNG, Ordering::Release);
                        return;
                    }
                    _ = self.moved.notified() => {}
                }
            }
        }
    }
}
