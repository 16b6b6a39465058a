//! The budgets against the real binary: the hostile lines of
//! `testdata/hostile-lines.txt`, four at a time, while another session logs in and
//! echoes. Each line ends as its table says (the shell dies of memory, or the line
//! stalls on a budget), the echoing session is answered throughout (a liveness check
//! with a generous deadline, not a speed test), the sensor's peak resident memory
//! stays under 256 MiB, and its CPU time stays flat once the hostile lines have
//! stalled or their clients have gone. A second test fills the sensor-wide cap.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use util::{source, test_config, Client, Sensor};

const STEP: Duration = Duration::from_secs(10);
/// How long a hostile line may take to reach its end in a debug build, four at once.
const HOSTILE_DEADLINE: Duration = Duration::from_secs(120);
/// Hostile sessions at once (the runtime has two workers: more than two, so that a
/// blocked worker would show).
const AT_ONCE: usize = 4;

/// How a hostile line ends (see `testdata/hostile-lines.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    OutOfMemory,
    ChildOutOfMemory,
    /// The limits named, the last being the budget the line stalls on.
    Stalled(Vec<String>),
}

fn hostile_lines() -> Vec<(End, String)> {
    include_str!("../../../testdata/hostile-lines.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (end, line) = l.split_once('\t').unwrap();
            let end = match end {
                "oom" => End::OutOfMemory,
                "child-oom" => End::ChildOutOfMemory,
                stall => End::Stalled(
                    stall
                        .strip_prefix("stall ")
                        .unwrap()
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                ),
            };
            (end, line.replace("\\n", "\n"))
        })
        .collect()
}

/// Types `line` (its parts at PS2 prompts) and Enter.
fn type_line(c: &mut Client, line: &str) {
    let parts: Vec<&str> = line.split('\n').collect();
    let (last, first) = parts.split_last().unwrap();
    for part in first {
        c.send(format!("{part}\r\n").as_bytes());
        c.read_until(b"> ", STEP);
    }
    c.send(format!("{last}\r\n").as_bytes());
}

/// The limits the sensor recorded for sessions from `src`.
fn limits_from(sensor: &Sensor, src: &str) -> Vec<String> {
    sensor
        .events()
        .iter()
        .filter(|e| e["eventid"] == "busybait.limit" && e["src_ip"] == src)
        .map(|e| e["limit"].as_str().unwrap().to_string())
        .collect()
}

/// CPU time the process has used, in clock ticks (utime + stime).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Peak resident memory in KiB (`VmHWM`).
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// CPU the sensor uses over a quiet second: a measurement window, not a wait for
/// anything.
fn cpu_over_a_second(pid: u32) -> u64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    cpu_ticks(pid) - before
}

/// Runs one hostile line from its own source address; returns the client of a stalled
/// line (still connected) so that the caller can see it costs nothing.
fn run_hostile(sensor: &Sensor, i: usize, end: &End, line: &str) -> Option<Client> {
    let src = source(100 + i);
    let mut c = sensor.connect_from(src);
    c.login();
    type_line(&mut c, line);
    match end {
        End::OutOfMemory => {
            let out = c.read_to_close(HOSTILE_DEADLINE);
            assert!(
                out.ends_with(b"sh: out of memory\r\n"),
                "{line}: {:?}",
                String::from_utf8_lossy(&out[out.len().saturating_sub(200)..])
            );
            sensor.wait_for_events(line, |_| limits_from(sensor, &src.to_string()).len() == 1);
            assert_eq!(
                limits_from(sensor, &src.to_string()),
                ["shell_memory_bytes"]
            );
            None
        }
        End::ChildOutOfMemory => {
            c.read_until(b"sh: out of memory\r\n# ", HOSTILE_DEADLINE);
            sensor.wait_for_events(line, |_| limits_from(sensor, &src.to_string()).len() == 1);
            assert_eq!(
                limits_from(sensor, &src.to_string()),
                ["shell_memory_bytes"]
            );
            None
        }
        End::Stalled(limits) => {
            let deadline = std::time::Instant::now() + HOSTILE_DEADLINE;
            while limits_from(sensor, &src.to_string()).len() < limits.len() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{line}: never stalled"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(&limits_from(sensor, &src.to_string()), limits, "{line}");
            Some(c)
        }
    }
}

#[test]
fn hostile_lines_four_at_once_leave_the_sensor_responsive_small_and_idle() {
    let sensor = Sensor::start_with(&test_config("xiongmai-dvr", "", ""));
    let pid = sensor.pid();
    let lines = hostile_lines();
    assert!(lines.len() >= 20);
    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let stalled = std::sync::Mutex::new(Vec::new());
    let echoes = std::thread::scope(|s| {
        let liveness = s.spawn(|| {
            let mut c = sensor.connect_from(source(1));
            c.login();
            let mut rounds = 0u32;
            while !done.load(Ordering::Relaxed) {
                rounds += 1;
                c.send(format!("echo alive{rounds}\r\n").as_bytes());
                // A generous deadline: a liveness check, not a speed test.
                c.read_until(format!("\r\nalive{rounds}\r\n# ").as_bytes(), STEP);
            }
            rounds
        });
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((end, line)) = lines.get(i) else {
                        return;
                    };
                    if let Some(c) = run_hostile(&sensor, i, end, line) {
                        stalled.lock().unwrap().push(c);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        liveness.join().unwrap()
    });
    println!("liveness: {echoes} echoes answered while the hostile lines ran");
    assert!(echoes > 0);

    // Stalled lines cost nothing: a quiet second with them all connected.
    let stalled = stalled.into_inner().unwrap();
    assert!(stalled.len() >= 5);
    // The first second still has the writers catching up and the allocator giving
    // memory back; what is measured is the second after it.
    let settling = cpu_over_a_second(pid);
    let busy = cpu_over_a_second(pid);
    println!("cpu while settling: {settling} ticks/s");
    println!("cpu with {} stalled lines: {busy} ticks/s", stalled.len());
    assert!(
        busy <= 10,
        "{busy} ticks in a second with only stalled lines"
    );

    // Their clients go away; every session is closed, and the sensor stays idle.
    drop(stalled);
    let hostile = lines.len();
    sensor.wait_for_events("every hostile session closed", |events| {
        events
            .iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            >= hostile
    });
    let after = cpu_over_a_second(pid);
    println!("cpu after the hostile clients left: {after} ticks/s");
    assert!(after <= 10, "{after} ticks in a second after they left");

    let peak = peak_kib(pid);
    println!("peak resident memory: {} MiB", peak / 1024);
    assert!(peak < 256 * 1024, "VmHWM {peak} KiB");
    sensor.well_behaved();
}

#[test]
fn past_the_sensor_wide_cap_the_largest_session_fails_and_the_rest_go_on() {
    // Three sessions fit under 26 MiB together only while the third stays small.
    let config = test_config(
        "xiongmai-dvr",
        "shell_memory_bytes = 25165824\nmemory_cap_bytes = 27262976",
        "",
    );
    let sensor = Sensor::start_with(&config);
    let mut small = Vec::new();
    for i in 0..2 {
        let mut c = sensor.connect_from(source(10 + i));
        c.login();
        c.send(b"a=$(printf %4000000s); echo held\r\n");
        c.read_until(b"\r\nheld\r\n# ", STEP);
        small.push(c);
    }
    let mut big = sensor.connect_from(source(20));
    big.login();
    big.send(b"a=$(printf %4000000s); b=$a$a$a$a; echo held\r\n");
    let out = big.read_to_close(STEP * 3);
    assert!(
        out.ends_with(b"sh: out of memory\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let events = sensor.wait_for_events("the cap's limit event", |e| {
        e.iter().any(|v| v["limit"] == "memory_cap_bytes")
    });
    let limit = events
        .iter()
        .find(|v| v["limit"] == "memory_cap_bytes")
        .unwrap();
    assert_eq!(limit["src_ip"], source(20).to_string());
    assert_eq!(limit["value"], 27_262_976);
    // The others still hold their values and answer.
    for c in &mut small {
        c.send(b"echo ${#a}\r\n");
        c.read_until(b"\r\n4000000\r\n# ", STEP);
    }
    sensor.well_behaved();
}
