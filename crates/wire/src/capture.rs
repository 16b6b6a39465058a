//! Reading capture files: classic pcap (either byte order, micro- or nanosecond) and
//! pcapng (several sections and interfaces), streamed block by block from any
//! reader, so memory does not grow with the file. A damaged file ends the reading
//! with a clear [`CaptureEnd`], after every frame before the damage was delivered.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use crate::packet::LinkType;

/// Bytes the reader buffers; a frame larger than this (a bogus length) ends reading.
pub const READ_BUFFER: usize = 1 << 20;

/// One captured frame.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based number in the file, as Wireshark counts.
    pub number: u64,
    /// Capture time, seconds since the epoch.
    pub time: f64,
    /// The decoder for its link type, if there is one.
    pub link: Option<LinkType>,
    /// The bytes captured (maybe fewer than were on the wire: snaplen).
    pub data: &'a [u8],
}

/// How reading ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEnd {
    /// The whole file was read.
    Complete,
    /// The file ends in the middle of a record (a capture cut short).
    Truncated,
    /// Something in the file is not pcap/pcapng; what was before it was read.
    Damaged(String),
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Neither pcap nor pcapng.
    #[error("not a pcap or pcapng file ({0})")]
    NotACapture(String),
}

/// Calls `each` for every frame of `input`, in order.
pub fn read_frames<R: Read + Send>(
    input: R,
    mut each: impl FnMut(Frame<'_>),
) -> Result<CaptureEnd, CaptureError> {
    let mut reader = create_reader(READ_BUFFER, input)
        .map_err(|e| CaptureError::NotACapture(format!("{e:?}")))?;
    let mut number = 0u64;
    // Legacy pcap: one link type and timestamp unit for the file.
    let mut legacy_link = None;
    let mut legacy_nanos = false;
    // pcapng: per interface of the current section, (link, ticks per second).
    let mut interfaces: Vec<(Option<LinkType>, u64, i64)> = Vec::new();
    let mut stalled = false;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                stalled = false;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = LinkType::from_pcap(h.network.0);
                        legacy_nanos = h.is_nanosecond_precision();
                    }
                    PcapBlockOwned::Legacy(b) => {
                        number += 1;
                        let unit = if legacy_nanos { 1e-9 } else { 1e-6 };
                        each(Frame {
                            number,
                            time: f64::from(b.ts_sec) + f64::from(b.ts_usec) * unit,
                            link: legacy_link,
                            data: b.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push((
                            LinkType::from_pcap(idb.linktype.0),
                            idb.ts_resolution().unwrap_or(1_000_000).max(1),
                            idb.ts_offset(),
                        ));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        number += 1;
                        let (link, per_second, offset_seconds) = interfaces
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or((None, 1_000_000, 0));
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        each(Frame {
                            number,
                            time: ticks as f64 / per_second as f64 + offset_seconds as f64,
                            link,
                            data: epb.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        number += 1;
                        let link = interfaces.first().and_then(|i| i.0);
                        each(Frame {
                            number,
                            time: 0.0,
                            link,
                            data: spb.data,
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => return Ok(CaptureEnd::Complete),
            Err(PcapError::Incomplete(_)) => {
                // Twice in a row without progress: the file ends inside a record.
                if stalled {
                    return Ok(CaptureEnd::Truncated);
                }
                stalled = true;
                if let Err(e) = reader.refill() {
                    return Ok(match e {
                        PcapError::Eof | PcapError::UnexpectedEof => CaptureEnd::Truncated,
                        other => CaptureEnd::Damaged(format!("{other:?}")),
                    });
                }
            }
            Err(PcapError::UnexpectedEof) => return Ok(CaptureEnd::Truncated),
            Err(PcapError::BufferTooSmall) => {
                return Ok(CaptureEnd::Damaged(format!(
                    "a record longer than {READ_BUFFER} bytes after frame {number} (a bogus length)"
                )))
            }
            Err(e) => return Ok(CaptureEnd::Damaged(format!("after frame {number}: {e:?}"))),
        }
    }
}
