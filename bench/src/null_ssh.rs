//! `busybait-null-ssh`: the smallest SSH server that a benchmark client can log in
//! to, open a pty shell on and run a command in: the same key exchange, host key,
//! ciphers and packet layer as busybait's SSH door (busybait-ssh's own pieces), any
//! password accepted, a fixed answer to every line, and nothing else: no device, no
//! recording, no logging. The physical limit of this machine for SSH sessions, since
//! the handshake's cryptography is most of their work. Loopback only; a thread per
//! connection.

// A command-line tool: it reports its address on stdout.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use anyhow::{bail, Context};
use busybait_ssh::algorithms::{
    names, ClientKexInit, DropbearVersion, HostKeyAlgorithm, ServerLists, STRICT_KEX_CLIENT,
};
use busybait_ssh::hostkey::HostKey;
use busybait_ssh::kex::{derive_keys, exchange, Transcript};
use busybait_ssh::msg;
use busybait_ssh::packet::{PacketReader, PacketWriter};
use busybait_ssh::rng::SessionRng;
use busybait_ssh::wire::{put_string, put_u32, Reader};

const IDENT: &[u8] = b"SSH-2.0-dropbear_2022.83";
const PROMPT: &[u8] = b"# ";
const ANSWER: &[u8] = b"Linux null 6.1.0 #1 SMP x86_64 GNU/Linux\r\n";

struct Server {
    lists: ServerLists,
    key: HostKey,
}

struct Conn {
    stream: TcpStream,
    reader: PacketReader,
    writer: PacketWriter,
    rng: SessionRng,
    out: Vec<u8>,
}

impl Conn {
    fn send(&mut self, payload: &[u8]) {
        self.writer.seal(payload, &mut self.rng, &mut self.out);
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn channel(&mut self, kind: u8, channel: u32, data: Option<&[u8]>) {
        let mut p = vec![kind];
        put_u32(&mut p, channel);
        if let Some(d) = data {
            put_string(&mut p, d);
        }
        self.send(&p);
    }

    fn finish_channel(&mut self, channel: u32) {
        self.channel(msg::CHANNEL_EOF, channel, None);
        let mut exit = vec![msg::CHANNEL_REQUEST];
        put_u32(&mut exit, channel);
        put_string(&mut exit, b"exit-status");
        exit.push(0);
        put_u32(&mut exit, 0);
        self.send(&exit);
        self.channel(msg::CHANNEL_CLOSE, channel, None);
    }
}

fn serve(stream: TcpStream, server: &Server) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut c = Conn {
        stream,
        reader: PacketReader::new(35_000),
        writer: PacketWriter::default(),
        rng: SessionRng::new(seed),
        out: Vec::new(),
    };
    let cookie = c.rng.array::<16>();
    let server_kexinit = server.lists.kexinit(cookie);
    c.out.extend_from_slice(IDENT);
    c.out.extend_from_slice(b"\r\n");
    c.send(&server_kexinit);
    c.flush()?;
    // The client's identification line, a byte at a time as Dropbear reads it.
    let mut ident = Vec::new();
    let mut byte = [0u8; 1];
    while ident.len() < 255 {
        if c.stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        match byte.first().copied().unwrap_or(b'\n') {
            b'\n' => break,
            b'\r' => {}
            b => ident.push(b),
        }
    }
    let mut client_kexinit = Vec::new();
    let mut negotiated = None;
    let mut strict = false;
    let mut session_id: Option<Vec<u8>> = None;
    let mut keys_cs = None;
    let mut line = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = c.stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        c.reader.push(buf.get(..n).unwrap_or_default());
        while let Some(p) = c.reader.next_packet().context("bad packet")? {
            let mut r = Reader::new(&p);
            let kind = r.u8().unwrap_or(0);
            match kind {
                msg::KEXINIT => {
                    let k = ClientKexInit::parse(&p).context("KEXINIT")?;
                    strict = names(k.lists.first().map(Vec::as_slice).unwrap_or_default())
                        .any(|n| n == STRICT_KEX_CLIENT.as_bytes());
                    negotiated = Some(
                        server
                            .lists
                            .negotiate(&k)
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                    );
                    client_kexinit = p.clone();
                }
                msg::KEX_ECDH_INIT => {
                    let Some(neg) = negotiated else {
                        bail!("no KEXINIT")
                    };
                    let transcript = Transcript {
                        client_ident: &ident,
                        server_ident: IDENT,
                        client_kexinit: &client_kexinit,
                        server_kexinit: &server_kexinit,
                    };
                    let ex = exchange(
                        neg.kex,
                        &p,
                        &transcript,
                        &mut c.rng,
                        (&server.key, neg.host_key),
                    )
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let sid = session_id.get_or_insert_with(|| ex.hash.clone()).clone();
                    let (cs, sc) = derive_keys(&ex, &sid, &neg);
                    c.send(&ex.reply);
                    c.send(&[msg::NEWKEYS]);
                    c.writer.rekey(&sc)?;
                    if strict {
                        c.writer.reset_seq();
                    }
                    keys_cs = Some(cs);
                }
                msg::NEWKEYS => {
                    let Some(cs) = keys_cs.take() else {
                        bail!("NEWKEYS")
                    };
                    c.reader.rekey(&cs)?;
                    if strict {
                        c.reader.reset_seq();
                    }
                }
                msg::SERVICE_REQUEST => {
                    let mut a = vec![msg::SERVICE_ACCEPT];
                    put_string(&mut a, r.string().unwrap_or_default());
                    c.send(&a);
                }
                msg::USERAUTH_REQUEST => {
                    let (_, _, method) = (r.string(), r.string(), r.string());
                    if method == Ok(&b"password"[..]) {
                        c.send(&[msg::USERAUTH_SUCCESS]);
                    } else {
                        let mut f = vec![msg::USERAUTH_FAILURE];
                        put_string(&mut f, b"publickey,password");
                        f.push(0);
                        c.send(&f);
                    }
                }
                msg::CHANNEL_OPEN => {
                    let (_, sender) = (r.string(), r.u32().unwrap_or(0));
                    let mut o = vec![msg::CHANNEL_OPEN_CONFIRMATION];
                    for v in [sender, 0, 65_536, 32_759] {
                        put_u32(&mut o, v);
                    }
                    c.send(&o);
                }
                msg::CHANNEL_REQUEST => {
                    let _ = r.u32();
                    let kind = r.string().unwrap_or_default().to_vec();
                    let want_reply = r.bool().unwrap_or(false);
                    if want_reply {
                        c.channel(msg::CHANNEL_SUCCESS, 0, None);
                    }
                    match kind.as_slice() {
                        b"shell" => c.channel(msg::CHANNEL_DATA, 0, Some(PROMPT)),
                        b"exec" => {
                            c.channel(msg::CHANNEL_DATA, 0, Some(ANSWER));
                            c.finish_channel(0);
                        }
                        _ => {}
                    }
                }
                msg::CHANNEL_DATA => {
                    let _ = r.u32();
                    let data = r.string().unwrap_or_default().to_vec();
                    for b in data {
                        if b != b'\r' && b != b'\n' {
                            line.push(b);
                            continue;
                        }
                        let mut reply = std::mem::take(&mut line);
                        reply.extend_from_slice(b"\r\n");
                        if reply.starts_with(b"exit") {
                            c.channel(msg::CHANNEL_DATA, 0, Some(&reply));
                            c.finish_channel(0);
                        } else {
                            reply.extend_from_slice(ANSWER);
                            reply.extend_from_slice(PROMPT);
                            c.channel(msg::CHANNEL_DATA, 0, Some(&reply));
                        }
                    }
                }
                msg::DISCONNECT | msg::CHANNEL_CLOSE => {
                    c.flush()?;
                    return Ok(());
                }
                _ => {}
            }
        }
        c.flush()?;
    }
}

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .context("usage: busybait-null-ssh 127.0.0.1:PORT")?;
    if !addr.ip().is_loopback() {
        bail!("the null SSH server listens on loopback only");
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let server = Arc::new(Server {
        lists: DropbearVersion::V2022_83.lists(&[HostKeyAlgorithm::Ed25519], true),
        key: HostKey::from_seed(HostKeyAlgorithm::Ed25519, seed),
    });
    let listener = TcpListener::bind(addr)?;
    println!("listening ssh {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let server = server.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, &server);
        });
    }
    Ok(())
}
