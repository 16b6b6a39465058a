//! Public keys in an `authorized_keys` file a session left on the device: each one
//! a persistence attempt (RapperBot appends its key, Outlaw replaces the file with
//! its `mdrfckr` key), reported with OpenSSH's fingerprint and the comment.

use busybait_events::EventKind;
use sha2::{Digest, Sha256};

/// Key lines kept from one file at most (a file of thousands is still one attempt).
const MAX_KEYS: usize = 32;

/// The `busybait.persistence.ssh_key` events for the keys in `data`.
pub fn planted(path: &str, data: &[u8]) -> Vec<EventKind> {
    let mut out = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        if out.len() >= MAX_KEYS {
            break;
        }
        let line = String::from_utf8_lossy(line);
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        // Options may come first: the key type is the first field that looks like one.
        let Some(at) = fields.iter().position(|f| is_key_type(f)) else {
            continue;
        };
        let (Some(key_type), Some(key)) = (fields.get(at), fields.get(at + 1)) else {
            continue;
        };
        let Some(blob) = decode(key) else {
            continue;
        };
        let comment = fields.get(at + 2..).unwrap_or_default().join(" ");
        out.push(EventKind::SshKeyPlanted {
            path: path.to_string(),
            key_type: key_type.to_string(),
            fingerprint_sha256: fingerprint(&blob),
            key: key.to_string(),
            comment,
        });
    }
    out
}

fn is_key_type(field: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-"]
        .iter()
        .any(|p| field.starts_with(p))
}

fn decode(text: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(text).ok()
}

/// OpenSSH's `SHA256:` fingerprint of a key blob.
fn fingerprint(blob: &[u8]) -> String {
    use base64ct::Encoding;
    format!(
        "SHA256:{}",
        base64ct::Base64Unpadded::encode_string(&Sha256::digest(blob))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_options_and_comments_are_found_and_junk_is_not() {
        let text = b"# a comment\n\
            command=\"/bin/true\",no-pty ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC0 rapper@bot\n\
            ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl mdrfckr\n\
            ssh-rsa not-base64!\n\
            \n";
        let found = planted("/root/.ssh/authorized_keys", text);
        let summary: Vec<(String, String)> = found
            .iter()
            .map(|k| match k {
                EventKind::SshKeyPlanted {
                    key_type, comment, ..
                } => (key_type.clone(), comment.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("ssh-rsa".to_string(), "rapper@bot".to_string()),
                ("ssh-ed25519".to_string(), "mdrfckr".to_string())
            ]
        );
        // `ssh-keygen -lf` of that ed25519 key.
        let EventKind::SshKeyPlanted {
            fingerprint_sha256, ..
        } = &found[1]
        else {
            unreachable!()
        };
        assert_eq!(fingerprint_sha256.len(), "SHA256:".len() + 43);
    }
}
