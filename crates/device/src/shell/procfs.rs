//! `/proc` files, generated from the profile and the clock when read, so that
//! `/proc/cpuinfo`, `/proc/mounts`, `uname -m` and the ELF header always agree and
//! uptime moves with time.

use crate::vfs::ProcFile;

use super::exec::Sh;

fn with_newline(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if !v.ends_with(b"\n") {
        v.push(b'\n');
    }
    v
}

/// Seconds the device has been up.
pub fn uptime_secs(sh: &Sh) -> f64 {
    let now = sh.now().wall;
    now.duration_since(sh.config.boot_time)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The content of a generated file.
pub fn generate(sh: &Sh, kind: ProcFile) -> Vec<u8> {
    let p = &sh.device.profile;
    match kind {
        ProcFile::CpuInfo => with_newline(&p.cpuinfo),
        ProcFile::Mounts => with_newline(&p.mounts),
        ProcFile::MemInfo => with_newline(&p.meminfo),
        ProcFile::Version => format!(
            "Linux version {} (root@buildhost) (gcc version 4.8.5 (GCC) ) {}\n",
            p.kernel_release, p.kernel_version
        )
        .into_bytes(),
        ProcFile::Uptime => {
            let up = uptime_secs(sh);
            format!("{up:.2} {:.2}\n", up * 0.93).into_bytes()
        }
        ProcFile::LoadAvg => format!(
            "0.08 0.03 0.01 1/{} {}\n",
            30 + sh.next_pid % 7,
            sh.next_pid
        )
        .into_bytes(),
    }
}
