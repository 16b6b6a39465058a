//! The SSH door's host keys: made once per sensor from the operating system's
//! randomness and kept in the data dir (`ssh_host_ed25519_key.pem`,
//! `ssh_host_ecdsa_key.pem`, `ssh_host_rsa_key.pem`; PKCS#8 PEM, mode 0600), so that
//! a sensor keeps its keys across restarts and no two sensors share them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use busybait_ssh::algorithms::HostKeyAlgorithm;
use busybait_ssh::hostkey::HostKey;

fn file_name(algorithm: HostKeyAlgorithm) -> &'static str {
    match algorithm {
        HostKeyAlgorithm::Ed25519 => "ssh_host_ed25519_key.pem",
        HostKeyAlgorithm::EcdsaP256 => "ssh_host_ecdsa_key.pem",
        HostKeyAlgorithm::RsaSha256 | HostKeyAlgorithm::SshRsa => "ssh_host_rsa_key.pem",
    }
}

/// The host key of each algorithm, read from `dir` or made there.
pub fn load_or_create(dir: &Path, algorithms: &[HostKeyAlgorithm]) -> anyhow::Result<Vec<HostKey>> {
    algorithms
        .iter()
        .map(|&a| load_or_create_one(dir, a))
        .collect()
}

fn load_or_create_one(dir: &Path, algorithm: HostKeyAlgorithm) -> anyhow::Result<HostKey> {
    let path: PathBuf = dir.join(file_name(algorithm));
    match std::fs::read_to_string(&path) {
        Ok(pem) => {
            let key =
                HostKey::from_pem(&pem).with_context(|| format!("host key {}", path.display()))?;
            if !key.serves(algorithm) {
                bail!(
                    "host key {} holds a {} key, not {}",
                    path.display(),
                    key.algorithm().name(),
                    algorithm.name()
                );
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)
                .map_err(|e| anyhow::anyhow!("no randomness for a host key: {e}"))?;
            let key = HostKey::from_seed(algorithm, seed);
            let pem = key.to_pem().context("encoding a new host key")?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating host key {}", path.display()))?;
            file.write_all(pem.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing host key {}", path.display()))?;
            tracing::info!(
                "new {} host key {} in {}",
                algorithm.name(),
                key.fingerprint(),
                path.display()
            );
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading host key {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let algorithms = [
            HostKeyAlgorithm::Ed25519,
            HostKeyAlgorithm::EcdsaP256,
            HostKeyAlgorithm::SshRsa,
        ];
        let first = load_or_create(dir.path(), &algorithms).unwrap();
        let again = load_or_create(dir.path(), &algorithms).unwrap();
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.public_blob(), b.public_blob());
        }
        let mode = std::fs::metadata(dir.path().join("ssh_host_ed25519_key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = tempfile::tempdir().unwrap();
        let fresh = load_or_create(other.path(), &algorithms).unwrap();
        assert_ne!(
            fresh[0].public_blob(),
            first[0].public_blob(),
            "sensors differ"
        );
        std::fs::write(dir.path().join("ssh_host_ecdsa_key.pem"), "junk").unwrap();
        assert!(load_or_create(dir.path(), &algorithms).is_err());
    }
}
