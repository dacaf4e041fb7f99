//! A hybrid logical clock (HLC).
//!
//! Each stamp is (wall-clock milliseconds, counter, node id). A node never issues a stamp lower
//! than one it has issued or seen, so the order of writes stays sane even when a workstation's
//! clock is wrong; ties between nodes are broken by node id, so every replica orders stamps the
//! same way. Stamps have a text form that sorts like the stamps themselves, which lets SQLite
//! compare them with plain `ORDER BY`.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The workstation (or server) that issued a stamp. Text, so that it sorts the same everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One hybrid logical clock reading. Serialised as its text form, as it is stored and synced.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HlcStamp {
    /// Milliseconds since the Unix epoch, as the issuing clock believed (never behind any stamp seen).
    pub millis: i64,
    /// Orders stamps issued within one millisecond.
    pub counter: u32,
    /// Who issued it; breaks ties.
    pub node: NodeId,
}

impl Ord for HlcStamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.millis, self.counter, &self.node).cmp(&(other.millis, other.counter, &other.node))
    }
}

impl PartialOrd for HlcStamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for HlcStamp {
    /// Fixed-width text that sorts as the stamps do: `000001700000000000-000000-node`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:018}-{:06}-{}", self.millis, self.counter, self.node)
    }
}

impl Serialize for HlcStamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HlcStamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a stamp's text could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a clock stamp: {0:?}")]
pub struct HlcParseError(String);

impl FromStr for HlcStamp {
    type Err = HlcParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HlcParseError(s.chars().take(64).collect());
        let mut parts = s.splitn(3, '-');
        let millis = parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)?;
        let counter = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(bad)?;
        let node = parts.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
        if millis < 0 {
            return Err(bad());
        }
        Ok(Self {
            millis,
            counter,
            node: NodeId(node.to_owned()),
        })
    }
}

/// The clock of one node. Feed it the wall clock; it returns stamps that only ever increase.
#[derive(Clone, Debug)]
pub struct HybridClock {
    node: NodeId,
    last_millis: i64,
    last_counter: u32,
}

impl HybridClock {
    /// A clock for `node` that has issued nothing yet.
    pub fn new(node: NodeId) -> Self {
        Self {
            node,
            last_millis: 0,
            last_counter: 0,
        }
    }

    /// A clock resumed from the last stamp it issued (kept across restarts).
    pub fn resume(node: NodeId, last: Option<&HlcStamp>) -> Self {
        let mut clock = Self::new(node);
        if let Some(last) = last {
            clock.last_millis = last.millis;
            clock.last_counter = last.counter;
        }
        clock
    }

    /// This clock's node.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// A new stamp for a local write at wall-clock time `wall_millis`.
    pub fn tick(&mut self, wall_millis: i64) -> HlcStamp {
        if wall_millis > self.last_millis {
            self.last_millis = wall_millis;
            self.last_counter = 0;
        } else {
            self.bump_counter();
        }
        self.last_stamp()
    }

    /// Takes note of a stamp received from another node, so later local stamps sort after it.
    pub fn observe(&mut self, remote: &HlcStamp, wall_millis: i64) {
        let old = self.last_millis;
        let top = old.max(remote.millis).max(wall_millis);
        if top == old && top == remote.millis {
            self.last_counter = self.last_counter.max(remote.counter);
            self.bump_counter();
        } else if top == old {
            self.bump_counter();
        } else if top == remote.millis {
            self.last_millis = top;
            self.last_counter = remote.counter;
            self.bump_counter();
        } else {
            self.last_millis = top;
            self.last_counter = 0;
        }
    }

    fn bump_counter(&mut self) {
        match self.last_counter.checked_add(1) {
            Some(next) => self.last_counter = next,
            // A full counter moves the clock a millisecond ahead rather than wrapping.
            None => {
                self.last_millis += 1;
                self.last_counter = 0;
            }
        }
    }

    /// The last stamp this clock issued or moved past (what to persist across restarts).
    pub fn last_stamp(&self) -> HlcStamp {
        HlcStamp {
            millis: self.last_millis,
            counter: self.last_counter,
            node: self.node.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: &str) -> NodeId {
        NodeId(n.to_owned())
    }

    #[test]
    fn stamps_increase_even_when_the_wall_clock_goes_back() {
        let mut clock = HybridClock::new(node("a"));
        let first = clock.tick(1_000);
        let second = clock.tick(900);
        let third = clock.tick(900);
        assert!(first < second && second < third);
        assert_eq!(second.millis, 1_000);
    }

    #[test]
    fn observing_a_later_remote_stamp_moves_the_clock_past_it() {
        let mut clock = HybridClock::new(node("a"));
        clock.tick(1_000);
        let remote = HlcStamp {
            millis: 5_000,
            counter: 7,
            node: node("b"),
        };
        clock.observe(&remote, 1_001);
        let next = clock.tick(1_002);
        assert!(next > remote, "{next} should sort after {remote}");
    }

    #[test]
    fn text_form_sorts_like_the_stamps_and_round_trips() {
        let a = HlcStamp {
            millis: 9,
            counter: 10,
            node: node("z"),
        };
        let b = HlcStamp {
            millis: 10,
            counter: 0,
            node: node("a"),
        };
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<HlcStamp>().unwrap(), a);
        assert!("12-x-node".parse::<HlcStamp>().is_err());
        assert!("".parse::<HlcStamp>().is_err());
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!(a.to_string())
        );
        assert_eq!(
            serde_json::from_value::<HlcStamp>(serde_json::json!(a.to_string())).unwrap(),
            a
        );
    }

    #[test]
    fn node_id_breaks_ties() {
        let mut a = HybridClock::new(node("a"));
        let mut b = HybridClock::new(node("b"));
        assert!(a.tick(7) < b.tick(7));
    }
}
