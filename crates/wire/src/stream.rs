//! Bounded TCP reassembly for the cleartext flows the detectors read (telnet, HTTP,
//! the report and C2 flows): each direction's bytes are handed over in sequence
//! order, once, with the last few bytes before them so a marker split across
//! segments is still seen whole.
//!
//! Everything a hostile capture can grow is bounded: the flow table
//! ([`StreamLimits::max_flows`], oldest flows evicted), the bytes held out of order
//! per direction ([`StreamLimits::max_pending`], past it the hole is skipped), and
//! the bytes inspected per direction ([`StreamLimits::depth`]). Overlapping bytes
//! keep the first copy seen (what the receiving host's stack usually keeps), and
//! every retransmission, overlap, hole and eviction is counted.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

/// Bytes of the stream kept before each new piece, for markers split across
/// segments: at least the longest marker minus one.
pub const TAIL: usize = 127;

/// Bytes of the start of the client's stream kept while they arrive, for the
/// detectors that judge a flow by its opening (a report, a C2 hello, a request):
/// room for a web exploit request with its body (the exploit table's shapes are 100
/// to 850 bytes). Kept only until the opening is judged or this long.
pub const HEAD: usize = 1536;

/// Bytes of the start of each direction kept for the flow's life (the method of an
/// HTTP request).
pub const START: usize = 8;

/// Bounds of the reassembler.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// Flows tracked at once; when full, the least recently active eighth is
    /// evicted (their held bytes delivered first).
    pub max_flows: usize,
    /// Bytes inspected per direction; the rest of a long flow is only counted.
    pub depth: u32,
    /// Out-of-order bytes held per direction waiting for a hole to fill; past
    /// this the hole is given up on and the held bytes delivered.
    pub max_pending: usize,
    /// Out-of-order bytes held over all flows; past this the hole in the
    /// direction that adds more is given up on.
    pub max_pending_total: usize,
    /// Seconds of capture time after which a quiet flow is closed.
    pub idle_timeout: f64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_flows: 65_536,
            depth: 1 << 20,
            max_pending: 64 * 1024,
            max_pending_total: 64 << 20,
            idle_timeout: 300.0,
        }
    }
}

/// What the reassembler saw and gave up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamCounters {
    /// Flows tracked in all.
    pub flows: u64,
    /// Flows evicted from a full table.
    pub evicted: u64,
    /// Flows closed after `idle_timeout` without a packet.
    pub timed_out: u64,
    /// Segments that arrived ahead of a hole and were held.
    pub out_of_order: u64,
    /// Segments whose bytes had all been seen (retransmissions).
    pub retransmitted: u64,
    /// Segments that overlapped bytes already seen (the first copy kept).
    pub overlapping: u64,
    /// Holes given up on (lost in the capture, or too much held behind them).
    pub gaps: u64,
    /// Segments that start beyond `depth` (never inspected).
    pub out_of_window: u64,
    /// Directions that reached `depth`.
    pub depth_reached: u64,
}

/// A TCP flow, named by the side that opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The connecting side.
    pub client: (IpAddr, u16),
    /// The accepting side.
    pub server: (IpAddr, u16),
}

/// A piece of one direction's stream. The consumer returns whether it wants more
/// of this direction: once it says no, the direction's bytes are no longer copied,
/// held or handed over (only its end is).
pub struct Chunk<'a> {
    /// The flow.
    pub flow: FlowKey,
    /// True for the client's bytes.
    pub from_client: bool,
    /// Stream offset of `bytes[0]` counted from the first byte seen.
    pub offset: u64,
    /// Up to [`TAIL`] bytes already handed over, then the new ones.
    pub bytes: &'a [u8],
    /// Where the new bytes start in `bytes`.
    pub new_from: usize,
    /// The client's first bytes (up to [`HEAD`]) when this chunk added to them.
    pub head: Option<&'a [u8]>,
    /// How long the head was before this chunk.
    pub head_before: usize,
    /// The first bytes (up to [`START`]) of this direction's stream.
    pub start: &'a [u8],
    /// The direction has ended (the flow closed, timed out or was evicted): `bytes`
    /// is empty. Sent once per direction, after its last bytes.
    pub end: bool,
}

/// One direction of a flow.
#[derive(Default)]
struct Direction {
    /// The sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Bytes handed over so far (the next expected offset).
    delivered: u64,
    /// Held out-of-order segments by offset; first copy wins.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// The last bytes handed over.
    tail: Vec<u8>,
    /// The first bytes, while fewer than [`HEAD`] (client only).
    head: Vec<u8>,
    /// The head is complete or was broken by a hole: no longer kept.
    head_done: bool,
    start: [u8; START],
    start_len: u8,
    fin: bool,
    at_depth: bool,
    /// The consumer has no further use for this direction's bytes.
    ignored: bool,
}

struct Flow {
    last_seen: f64,
    client: Direction,
    server: Direction,
}

/// The flow table.
pub struct Streams {
    flows: crate::maps::Map<FlowKey, Flow>,
    shared: Shared,
    last_sweep: f64,
}

/// What every direction's work needs besides its own state.
struct Shared {
    limits: StreamLimits,
    counters: StreamCounters,
    /// Bytes held out of order over all flows.
    held: usize,
    /// The tail and the new bytes of the piece being handed over.
    window: Vec<u8>,
}

/// A TCP segment as the reassembler needs it.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Sender.
    pub src: (IpAddr, u16),
    /// Receiver.
    pub dst: (IpAddr, u16),
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number, when ACK is set.
    pub ack: Option<u32>,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Payload.
    pub payload: &'a [u8],
}

impl Streams {
    /// An empty table with these bounds.
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            flows: crate::maps::Map::default(),
            shared: Shared {
                limits,
                counters: StreamCounters::default(),
                held: 0,
                window: Vec::new(),
            },
            last_sweep: f64::NEG_INFINITY,
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> &StreamCounters {
        &self.shared.counters
    }

    /// Bytes held out of order now, over all flows.
    pub fn held(&self) -> usize {
        self.shared.held
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// One segment at capture time `time`; in-order bytes go to `on_data`.
    ///
    /// A flow starts at the server's SYN-ACK (which names both initial sequence
    /// numbers) or, for a flow already open when the capture began, at its first
    /// segment with data. Bare SYNs create nothing: a scan fills no table.
    pub fn segment(
        &mut self,
        time: f64,
        s: &Segment<'_>,
        on_data: &mut dyn FnMut(Chunk<'_>) -> bool,
    ) {
        self.sweep(time, on_data);
        // A bare ACK changes nothing a detector reads (and is most of a capture).
        if s.payload.is_empty() && !(s.syn || s.fin || s.rst) {
            return;
        }
        let forward = FlowKey {
            client: s.src,
            server: s.dst,
        };
        let reverse = FlowKey {
            client: s.dst,
            server: s.src,
        };
        let (key, from_client) = if self.flows.contains_key(&forward) {
            (forward, true)
        } else if self.flows.contains_key(&reverse) {
            (reverse, false)
        } else {
            let (key, from_client) = if s.syn && s.ack.is_some() {
                // A SYN-ACK: the sender is the server.
                (reverse, false)
            } else if !s.payload.is_empty() && !s.syn {
                (forward, true)
            } else {
                return;
            };
            if self.flows.len() >= self.shared.limits.max_flows {
                self.evict(on_data);
            }
            self.shared.counters.flows += 1;
            self.flows.insert(
                key,
                Flow {
                    last_seen: time,
                    client: Direction::default(),
                    server: Direction::default(),
                },
            );
            (key, from_client)
        };
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        flow.last_seen = time;
        let (dir, other) = if from_client {
            (&mut flow.client, &mut flow.server)
        } else {
            (&mut flow.server, &mut flow.client)
        };
        if s.syn {
            dir.base = Some(s.seq.wrapping_add(1));
            if let (Some(ack), None) = (s.ack, other.base) {
                other.base = Some(ack);
            }
        }
        if !s.payload.is_empty() {
            let base = *dir.base.get_or_insert(s.seq);
            // Data on a SYN starts after it.
            let seq = if s.syn { s.seq.wrapping_add(1) } else { s.seq };
            let offset = u64::from(seq.wrapping_sub(base));
            let emit = Emit {
                flow: key,
                from_client,
            };
            dir.receive(offset, s.payload, &mut self.shared, &emit, on_data);
        }
        if s.fin {
            dir.fin = true;
        }
        let closed = s.rst || (flow.client.fin && flow.server.fin);
        if closed {
            self.close(key, on_data);
        }
    }

    /// Delivers what every open flow still holds (at the end of a capture).
    pub fn finish(&mut self, on_data: &mut dyn FnMut(Chunk<'_>) -> bool) {
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for key in keys {
            self.close(key, on_data);
        }
    }

    fn close(&mut self, key: FlowKey, on_data: &mut dyn FnMut(Chunk<'_>) -> bool) {
        let Some(mut flow) = self.flows.remove(&key) else {
            return;
        };
        for (dir, from_client) in [(&mut flow.client, true), (&mut flow.server, false)] {
            let emit = Emit {
                flow: key,
                from_client,
            };
            dir.flush(&mut self.shared, &emit, on_data);
            let _ = on_data(Chunk {
                flow: key,
                from_client,
                offset: dir.delivered,
                bytes: &[],
                new_from: 0,
                head: None,
                head_before: dir.head.len(),
                start: dir
                    .start
                    .get(..usize::from(dir.start_len))
                    .unwrap_or_default(),
                end: true,
            });
        }
    }

    /// Closes flows quiet for `idle_timeout`, at most once per tenth of it.
    fn sweep(&mut self, now: f64, on_data: &mut dyn FnMut(Chunk<'_>) -> bool) {
        let every = self.shared.limits.idle_timeout / 10.0;
        if now - self.last_sweep < every {
            return;
        }
        self.last_sweep = now;
        let cutoff = now - self.shared.limits.idle_timeout;
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_seen < cutoff)
            .map(|(k, _)| *k)
            .collect();
        self.shared.counters.timed_out += idle.len() as u64;
        for key in idle {
            self.close(key, on_data);
        }
    }

    /// Makes room: the least recently active eighth of the table goes (at least
    /// one), so the cost of the scan is spread over many insertions.
    fn evict(&mut self, on_data: &mut dyn FnMut(Chunk<'_>) -> bool) {
        let mut by_age: Vec<(f64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.last_seen, *k)).collect();
        let n = (by_age.len() / 8).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0));
        }
        for (_, key) in by_age.into_iter().take(n) {
            self.shared.counters.evicted += 1;
            self.close(key, on_data);
        }
    }
}

/// Who the bytes belong to.
struct Emit {
    flow: FlowKey,
    from_client: bool,
}

impl Direction {
    fn receive(
        &mut self,
        offset: u64,
        payload: &[u8],
        sh: &mut Shared,
        emit: &Emit,
        on_data: &mut dyn FnMut(Chunk<'_>) -> bool,
    ) {
        if self.at_depth || self.ignored {
            return;
        }
        let end = offset + payload.len() as u64;
        if end <= self.delivered {
            sh.counters.retransmitted += 1;
            return;
        }
        if offset > self.delivered {
            if offset >= u64::from(sh.limits.depth) {
                sh.counters.out_of_window += 1;
                return;
            }
            sh.counters.out_of_order += 1;
            if let Some(held) = self.pending.get(&offset) {
                if held.len() >= payload.len() {
                    sh.counters.overlapping += 1;
                    return;
                }
            }
            if let Some(old) = self.pending.insert(offset, payload.to_vec()) {
                sh.counters.overlapping += 1;
                self.release(sh, old.len());
            }
            self.pending_bytes += payload.len();
            sh.held += payload.len();
            // Too much held, or held too far ahead: give up on the hole (and on
            // the next, until what is left fits).
            while self.over_limits(sh) {
                self.skip_hole(sh);
                self.drain(sh, emit, on_data);
            }
            return;
        }
        // offset <= delivered < end: new bytes, perhaps after some already seen.
        let skip = usize::try_from(self.delivered - offset).unwrap_or(usize::MAX);
        if skip > 0 {
            sh.counters.overlapping += 1;
        }
        let fresh = payload.get(skip..).unwrap_or_default();
        self.deliver(fresh, sh, emit, on_data);
        self.drain(sh, emit, on_data);
    }

    fn over_limits(&self, sh: &Shared) -> bool {
        let Some((offset, last)) = self.pending.last_key_value() else {
            return false;
        };
        let span = (offset + last.len() as u64).saturating_sub(self.delivered);
        self.pending_bytes > sh.limits.max_pending
            || span > sh.limits.max_pending as u64
            || sh.held > sh.limits.max_pending_total
    }

    fn release(&mut self, sh: &mut Shared, bytes: usize) {
        self.pending_bytes -= bytes;
        sh.held -= bytes;
    }

    /// Hands over held segments that now follow on.
    fn drain(&mut self, sh: &mut Shared, emit: &Emit, on_data: &mut dyn FnMut(Chunk<'_>) -> bool) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.delivered {
                break;
            }
            let offset = *entry.key();
            let held = entry.remove();
            self.release(sh, held.len());
            let skip = usize::try_from(self.delivered - offset).unwrap_or(usize::MAX);
            if skip >= held.len() {
                sh.counters.overlapping += 1;
                continue;
            }
            if skip > 0 {
                sh.counters.overlapping += 1;
            }
            let fresh = held.get(skip..).unwrap_or_default();
            self.deliver(fresh, sh, emit, on_data);
        }
    }

    /// Jumps over the hole before the first held segment.
    fn skip_hole(&mut self, sh: &mut Shared) {
        if let Some((&offset, _)) = self.pending.first_key_value() {
            if offset > self.delivered {
                sh.counters.gaps += 1;
                self.delivered = offset;
                // Bytes on either side of a hole are not adjacent.
                self.tail.clear();
                self.head = Vec::new();
                self.head_done = true;
            }
        }
    }

    /// At the end of a flow: whatever is held, holes skipped.
    fn flush(&mut self, sh: &mut Shared, emit: &Emit, on_data: &mut dyn FnMut(Chunk<'_>) -> bool) {
        while !self.pending.is_empty() {
            self.skip_hole(sh);
            self.drain(sh, emit, on_data);
        }
    }

    fn deliver(
        &mut self,
        fresh: &[u8],
        sh: &mut Shared,
        emit: &Emit,
        on_data: &mut dyn FnMut(Chunk<'_>) -> bool,
    ) {
        let room = u64::from(sh.limits.depth).saturating_sub(self.delivered);
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(fresh.len());
        let fresh = fresh.get(..take).unwrap_or_default();
        if fresh.is_empty() {
            if !self.at_depth {
                self.at_depth = true;
                sh.counters.depth_reached += 1;
            }
            // Past the depth nothing is held either.
            let held = self.pending_bytes;
            self.release(sh, held);
            self.pending.clear();
            return;
        }
        let window = &mut sh.window;
        window.clear();
        window.extend_from_slice(&self.tail);
        window.extend_from_slice(fresh);
        let start_len = usize::from(self.start_len);
        if start_len < START && self.delivered == start_len as u64 {
            let add = (START - start_len).min(fresh.len());
            if let (Some(to), Some(from)) = (
                self.start.get_mut(start_len..start_len + add),
                fresh.get(..add),
            ) {
                to.copy_from_slice(from);
                // add <= START, which fits a u8.
                self.start_len += add as u8;
            }
        }
        let head_before = self.head.len();
        let grows_head = emit.from_client && !self.head_done;
        if grows_head {
            let add = (HEAD - head_before).min(fresh.len());
            self.head
                .extend_from_slice(fresh.get(..add).unwrap_or_default());
        }
        let wanted = on_data(Chunk {
            flow: emit.flow,
            from_client: emit.from_client,
            offset: self.delivered - self.tail.len() as u64,
            bytes: window,
            new_from: self.tail.len(),
            head: grows_head.then_some(self.head.as_slice()),
            head_before,
            start: self
                .start
                .get(..usize::from(self.start_len))
                .unwrap_or_default(),
            end: false,
        });
        if self.head.len() >= HEAD {
            // Judged: the opening is no longer needed.
            self.head = Vec::new();
            self.head_done = true;
        }
        self.delivered += fresh.len() as u64;
        if !wanted {
            // Nothing more to hand over: hold nothing, copy nothing.
            self.ignored = true;
            let held = self.pending_bytes;
            self.release(sh, held);
            self.pending.clear();
            self.tail = Vec::new();
            self.head = Vec::new();
            return;
        }
        let keep = window.len().min(TAIL);
        self.tail.clear();
        self.tail
            .extend_from_slice(window.get(window.len() - keep..).unwrap_or_default());
        if self.delivered >= u64::from(sh.limits.depth) && !self.at_depth {
            self.at_depth = true;
            sh.counters.depth_reached += 1;
            let held = self.pending_bytes;
            self.release(sh, held);
            self.pending.clear();
        }
    }
}
