//! The failure detectors' sample rings, held only for the peers that are
//! judged by their heartbeats (node-gossip peers, gossipers with
//! `probes: false`, and peers whose protocol is not known yet).
//!
//! A ring is `window` samples of two bytes, 200 bytes at the default
//! window: more than all the rest a node holds about a peer. Peers that
//! probe are judged by probes and need none, and in a cluster of gossipers
//! that is nearly every peer, so a slot gets a ring at its first arrival
//! while it is heartbeat-judged and gives it back when it turns out to
//! probe, or is freed. The rings sit in one flat table, reused through a
//! free list, so a node that judges thousands of peers by heartbeats still
//! pays no allocation or pointer per peer.

use super::super::event::PeerId;
use super::super::failure_detector::Sample;

/// No ring for this slot.
const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(super) struct Rings {
    /// Samples per ring (the detector's window).
    len: usize,
    /// Per peer slot, the ring it holds, or `NONE`.
    of: Vec<u32>,
    /// `len` samples per ring.
    table: Vec<Sample>,
    /// Rings no slot holds.
    free: Vec<u32>,
}

impl Rings {
    pub(super) fn new(len: usize) -> Self {
        Rings {
            len,
            of: Vec::new(),
            table: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Makes room for `slots` peer slots in all.
    pub(super) fn reserve_slots(&mut self, slots: usize) {
        self.of.reserve_exact(slots.saturating_sub(self.of.len()));
    }

    /// Slot `id`'s samples: empty when it holds no ring.
    pub(super) fn get(&self, id: PeerId) -> &[Sample] {
        match self.of.get(id as usize) {
            Some(&r) if r != NONE => {
                let at = r as usize * self.len;
                &self.table[at..at + self.len]
            }
            _ => &[],
        }
    }

    /// Slot `id`'s samples, with a ring of zeroes given to it if it held
    /// none; the flag says so (the detector then forgets its count).
    pub(super) fn get_or_attach(&mut self, id: PeerId) -> (&mut [Sample], bool) {
        let i = id as usize;
        if self.of.len() <= i {
            self.of.resize(i + 1, NONE);
        }
        let fresh = self.of[i] == NONE;
        if fresh {
            let r = match self.free.pop() {
                Some(r) => r,
                None => {
                    let r = (self.table.len() / self.len.max(1)) as u32;
                    self.table.resize(self.table.len() + self.len, 0);
                    r
                }
            };
            self.of[i] = r;
            let at = r as usize * self.len;
            self.table[at..at + self.len].fill(0);
        }
        let at = self.of[i] as usize * self.len;
        (&mut self.table[at..at + self.len], fresh)
    }

    /// Slot `id` no longer needs its ring (it probes, or it is freed).
    pub(super) fn release(&mut self, id: PeerId) {
        if let Some(r) = self.of.get_mut(id as usize) {
            if *r != NONE {
                self.free.push(*r);
                *r = NONE;
            }
        }
    }

    /// How many rings are held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.table.len() / self.len.max(1) - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_reused_and_zeroed() {
        let mut r = Rings::new(4);
        assert!(r.get(3).is_empty());
        let (ring, fresh) = r.get_or_attach(3);
        assert!(fresh);
        ring.copy_from_slice(&[1, 2, 3, 4]);
        let (ring, fresh) = r.get_or_attach(3);
        assert!(!fresh);
        assert_eq!(ring, &[1, 2, 3, 4]);
        r.release(3);
        assert!(r.get(3).is_empty());
        assert_eq!(r.held(), 0);
        let (ring, fresh) = r.get_or_attach(7);
        assert!(fresh);
        assert_eq!(ring, &[0, 0, 0, 0], "a reused ring starts empty");
        assert_eq!(r.held(), 1);
        assert_eq!(r.table.len(), 4, "the released ring was reused");
    }
}
