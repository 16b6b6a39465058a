//! What each source address left on the device, kept between its sessions.

use super::*;

/// What each source address left on the device, kept between its sessions for a
/// while (a bot that comes back finds its files, as on a real device). Bounded in
/// sources and in bytes, all sources together: past either bound the oldest overlay
/// goes first. Each overlay is bounded by its [`VfsLimits`].
#[derive(Debug)]
pub struct SourceFiles {
    retention: std::time::Duration,
    max_sources: usize,
    max_bytes: usize,
    pub(super) saved: std::sync::Mutex<Saved>,
}

/// The overlays kept, and the bytes they hold.
#[derive(Debug, Default)]
pub(super) struct Saved {
    pub(super) by_source: std::collections::HashMap<std::net::IpAddr, (Vfs, std::time::Instant)>,
    bytes: usize,
}

impl Saved {
    fn remove(&mut self, src: &std::net::IpAddr) -> Option<(Vfs, std::time::Instant)> {
        let entry = self.by_source.remove(src)?;
        self.bytes = self.bytes.saturating_sub(entry.0.memory_used());
        Some(entry)
    }

    fn remove_oldest(&mut self) -> bool {
        let oldest = self
            .by_source
            .iter()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(ip, _)| *ip);
        oldest.is_some_and(|ip| self.remove(&ip).is_some())
    }
}

impl SourceFiles {
    /// Keeps overlays for `retention`, for at most `max_sources` sources and
    /// `max_bytes` in all.
    pub fn new(retention: std::time::Duration, max_sources: usize, max_bytes: usize) -> Self {
        Self {
            retention,
            max_sources: max_sources.max(1),
            max_bytes,
            saved: std::sync::Mutex::new(Saved::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        self.saved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The overlay `src` left, if it is recent enough.
    pub fn take(&self, src: std::net::IpAddr, now: std::time::Instant) -> Option<Vfs> {
        let (vfs, at) = self.lock().remove(&src)?;
        (now.saturating_duration_since(at) < self.retention).then_some(vfs)
    }

    /// Looks at what `src` left, if it is recent enough, without taking it.
    pub fn peek<T>(
        &self,
        src: std::net::IpAddr,
        now: std::time::Instant,
        look: impl FnOnce(&Vfs) -> T,
    ) -> Option<T> {
        let saved = self.lock();
        let (vfs, at) = saved.by_source.get(&src)?;
        (now.saturating_duration_since(*at) < self.retention).then(|| look(vfs))
    }

    /// Forgets every overlay older than the retention; returns how many are left.
    /// Called periodically by the edge, so memory goes back once bots stop coming.
    pub fn expire(&self, now: std::time::Instant) -> usize {
        let mut saved = self.lock();
        let retention = self.retention;
        let expired: Vec<std::net::IpAddr> = saved
            .by_source
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) >= retention)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in expired {
            saved.remove(&ip);
        }
        if saved.by_source.is_empty() {
            *saved = Saved::default();
        }
        saved.by_source.len()
    }

    /// Bytes the kept overlays hold.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Keeps what `src` leaves behind (an overlay larger than all the room is not
    /// kept).
    pub fn put(&self, src: std::net::IpAddr, vfs: Vfs, now: std::time::Instant) {
        let size = vfs.memory_used();
        let mut saved = self.lock();
        saved.remove(&src);
        if size > self.max_bytes {
            return;
        }
        while saved.by_source.len() >= self.max_sources
            || saved.bytes.saturating_add(size) > self.max_bytes
        {
            if !saved.remove_oldest() {
                break;
            }
        }
        saved.bytes += size;
        saved.by_source.insert(src, (vfs, now));
    }
}
