//! `/samples/{sha256}/zip`: a dropped file, handed out only as the malware
//! community hands samples to each other: in a zip encrypted with AES-256 under the
//! password `infected`, so that no browser, mail filter or careless double-click
//! treats it as a program. Off unless `[web] sample_downloads = true`; never served
//! as the raw file.

use std::io::{Read, Write};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use zip::write::SimpleFileOptions;

use super::{Console, WebError};
use crate::read::Location;

/// The password every sample zip has (the community's convention).
pub(crate) const PASSWORD: &str = "infected";
/// Largest sample zipped (the fetcher's own cap is far below).
const MAX_SAMPLE_BYTES: u64 = 64 << 20;

/// `GET /samples/{sha256}/zip`.
pub(crate) async fn zip(
    State(console): State<Arc<Console>>,
    Path(sha256): Path<String>,
) -> Result<Response, WebError> {
    if !console.sample_downloads || !is_sha256(&sha256) {
        return Err(WebError::NotFound);
    }
    let name = sha256.clone();
    let zipped = console
        .pages
        .run(move |_, location| package(location, &sha256))
        .await?;
    let Some(zipped) = zipped else {
        return Err(WebError::NotFound);
    };
    let disposition = format!("attachment; filename=\"{name}.zip\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        zipped,
    )
        .into_response())
}

/// 64 lower-case hex digits, as samples are named.
fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The sample as an encrypted zip, or `None` if this store does not hold it.
fn package(location: &Location, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let Location::Dir(dir) = location else {
        return Ok(None);
    };
    let path = dir.join(busybait_store::samples::SAMPLES_DIR).join(sha256);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut sample = Vec::new();
    file.take(MAX_SAMPLE_BYTES + 1).read_to_end(&mut sample)?;
    anyhow::ensure!(
        sample.len() as u64 <= MAX_SAMPLE_BYTES,
        "sample {sha256} is larger than {} MiB",
        MAX_SAMPLE_BYTES >> 20
    );
    Ok(Some(encrypt(sha256, &sample)?))
}

/// `sample` as `<sha256>` (no extension, not executable) in an AES-256 zip.
pub(crate) fn encrypt(sha256: &str, sample: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o444)
        .with_aes_encryption(zip::AesMode::Aes256, PASSWORD);
    zip.start_file(sha256, options)?;
    zip.write_all(sample)?;
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashes_name_samples() {
        assert!(is_sha256(&"a".repeat(64)));
        assert!(!is_sha256(&"A".repeat(64)));
        assert!(!is_sha256("../../etc/passwd"));
        assert!(!is_sha256(&"a".repeat(63)));
    }

    #[test]
    fn the_zip_is_encrypted() {
        let sample = b"\x7fELF synthetic sample, never a real one".repeat(20);
        let zipped = encrypt(&"b".repeat(64), &sample).unwrap();
        // Local header: AES is compression method 99 (APPNOTE appendix E).
        assert_eq!(zipped.get(..4), Some(&b"PK\x03\x04"[..]));
        assert_eq!(zipped.get(8..10), Some(&[99u8, 0][..]));
        // Nothing of the sample is in the clear.
        assert!(!zipped.windows(12).any(|w| w == b"synthetic sa"));
    }
}
