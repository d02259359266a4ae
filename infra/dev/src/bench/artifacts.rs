//! Sizes of the deployment artifacts: each bootstrap binary and its zip.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::{Context, Result};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::report::Artifact;

pub fn measure(binary: &str, path: &Path) -> Result<Artifact> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Artifact {
        binary: binary.to_owned(),
        bootstrap_bytes: bytes.len() as u64,
        zip_bytes: zipped_size(&bytes)?,
    })
}

/// The size of a Lambda package holding `bootstrap` (executable), deflated at the default
/// level as `cargo lambda build --output-format zip` makes it.
fn zipped_size(bootstrap: &[u8]) -> Result<u64> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(bootstrap)?;
    Ok(zip.finish()?.into_inner().len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive_content_zips_small() {
        let size = zipped_size(&vec![7u8; 100_000]).unwrap();
        assert!(size > 0 && size < 2_000, "{size}");
    }
}
