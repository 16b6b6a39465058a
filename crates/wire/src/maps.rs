//! The analyzer's hash maps and sets. Their keys come from the capture, an
//! attacker's input: the hasher is seeded at random per process (foldhash: fast, and
//! no fixed collisions to aim at).

use std::collections::{HashMap, HashSet};

/// A hash map keyed by capture data.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set of capture data.
pub(crate) type Set<K> = HashSet<K, foldhash::fast::RandomState>;
