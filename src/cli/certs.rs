//! `gatehouse certs generate`: a self-signed development certificate.

use std::path::Path;

pub fn generate(dir: &Path, host: &str) -> anyhow::Result<bool> {
    let (cert, key) = crate::tls::generate_self_signed(&dir.join("certs"), host)?;
    println!("wrote {} and {}", cert.display(), key.display());
    Ok(true)
}
