//! Slows down guessing of enrollment codes: after a few wrong codes from one address, that
//! address waits before it may try again.
//!
//! A code has 60 random bits, so guessing is hopeless anyway; the point is that a guesser is
//! noticed (every wrong code is logged with its address) and cannot hammer the server. Counts are
//! kept in memory: a restart forgets them, which costs a guesser nothing they could use.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Wrong codes an address may send within [`WINDOW`] before it has to wait.
pub(crate) const MAX_FAILURES: u32 = 5;

/// How long wrong codes count against an address.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Addresses remembered at most; the oldest are forgotten first.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
}

/// Wrong enrollment codes per source address.
#[derive(Default)]
pub(crate) struct EnrollThrottle {
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl EnrollThrottle {
    /// `Err(wait)` when `addr` sent too many wrong codes lately.
    pub(crate) fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&addr).copied() {
            Some(f) if now.duration_since(f.first) >= WINDOW => {
                failures.remove(&addr);
                Ok(())
            }
            Some(f) if f.count >= MAX_FAILURES => {
                Err(WINDOW.saturating_sub(now.duration_since(f.first)))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong code from `addr`; returns how many it has sent in the window.
    pub(crate) fn failed(&self, addr: IpAddr, now: Instant) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&addr) {
            // Forget the address whose window started first.
            if let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, f)| f.first)
                .map(|(a, _)| *a)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(addr).or_insert(Failures {
            count: 0,
            first: now,
        });
        if now.duration_since(entry.first) >= WINDOW {
            *entry = Failures {
                count: 0,
                first: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
        entry.count
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_address_waits_after_too_many_wrong_codes_and_others_do_not() {
        let throttle = EnrollThrottle::default();
        let guesser: IpAddr = "192.0.2.7".parse().unwrap();
        let clinic: IpAddr = "192.0.2.8".parse().unwrap();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.check(guesser, start).is_ok());
            throttle.failed(guesser, start);
        }
        let wait = throttle.check(guesser, start).unwrap_err();
        assert_eq!(wait, WINDOW);
        assert!(throttle.check(clinic, start).is_ok());
        // Once the window has passed, the address may try again.
        assert!(throttle.check(guesser, start + WINDOW).is_ok());
    }
}
