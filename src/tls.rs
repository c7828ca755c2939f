//! TLS with rustls: server certificates from `certs/` chosen by SNI, client
//! certificate verification for mTLS listeners, and dev certificate generation.
//!
//! One crypto provider (ring) is installed at start-up by `install_crypto`.

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn install_crypto() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificates found in `certs/`: each `NAME.crt` (or `NAME.pem`) with
/// its `NAME.key`, indexed by the DNS names in its subject alternative names.
#[derive(Debug, Default)]
pub struct CertStore {
    entries: Vec<CertEntry>,
}

#[derive(Debug)]
struct CertEntry {
    file: String,
    /// Lowercase DNS names; `*.example.com` kept as written.
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

impl CertStore {
    /// Loads every pair in `dir`; files that fail come back as (file, message).
    pub fn load(dir: &Path) -> (CertStore, Vec<(PathBuf, String)>) {
        install_crypto();
        let mut store = CertStore::default();
        let mut errors = Vec::new();
        let Ok(read) = std::fs::read_dir(dir) else {
            return (store, errors);
        };
        let mut keys: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        keys.sort();
        for key_path in keys {
            let cert_path = ["crt", "pem"]
                .iter()
                .map(|ext| key_path.with_extension(ext))
                .find(|p| p.is_file());
            let Some(cert_path) = cert_path else {
                errors.push((
                    key_path,
                    "private key without a certificate (NAME.crt or NAME.pem)".into(),
                ));
                continue;
            };
            match load_pair(&cert_path, &key_path) {
                Ok(entry) => store.entries.push(entry),
                Err(message) => errors.push((cert_path, message)),
            }
        }
        errors.extend(certificates_without_keys(dir));
        (store, errors)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Exact name first, then a wildcard, then the first certificate (sorted
    /// by file name) so that clients without SNI still get an answer.
    pub fn resolve(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = server_name.map(|n| n.to_ascii_lowercase()) {
            if let Some(e) = self.entries.iter().find(|e| e.names.contains(&name)) {
                return Some(e.key.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                let wildcard = format!("*.{parent}");
                if let Some(e) = self.entries.iter().find(|e| e.names.contains(&wildcard)) {
                    return Some(e.key.clone());
                }
            }
        }
        self.entries.first().map(|e| e.key.clone())
    }

    pub fn describe(&self) -> Vec<(String, Vec<String>)> {
        self.entries
            .iter()
            .map(|e| (e.file.clone(), e.names.clone()))
            .collect()
    }
}

/// Server certificates in `dir` with no `NAME.key` beside them: they would
/// otherwise be skipped without a word, leaving HTTPS off. A `.crt` always
/// wants a key; a `.pem` only when it holds a leaf (non-CA) certificate,
/// since CA bundles (`client_ca`, upstream `ca`) and public keys live here too.
fn certificates_without_keys(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, String)> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.with_extension("key").is_file())
        .filter(|p| match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => true,
            Some("pem") => holds_leaf_certificate(p),
            _ => false,
        })
        .map(|p| {
            let message = format!(
                "certificate without its private key ({}): HTTPS cannot use it",
                p.with_extension("key")
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
            (p, message)
        })
        .collect();
    found.sort();
    found
}

fn holds_leaf_certificate(path: &Path) -> bool {
    let Ok(pem) = std::fs::read(path) else {
        return false;
    };
    let Some(Ok(first)) = rustls_pemfile::certs(&mut pem.as_slice()).next() else {
        return false;
    };
    match x509_parser::parse_x509_certificate(&first) {
        Ok((_, cert)) => !cert.is_ca(),
        Err(_) => false,
    }
}

fn load_pair(cert_path: &Path, key_path: &Path) -> Result<CertEntry, String> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| format!("cannot read: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad PEM certificate: {e}"))?;
    let first = certs.first().ok_or("no certificate in file")?;
    let key_pem = std::fs::read(key_path).map_err(|e| format!("cannot read key: {e}"))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("bad PEM private key: {e}"))?
        .ok_or("no private key in the .key file")?;
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    let names = dns_names(first)?;
    let key = CertifiedKey::new(certs, signing_key);
    key.keys_match()
        .map_err(|e| format!("certificate and key do not match: {e}"))?;
    Ok(CertEntry {
        file: cert_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        names,
        key: Arc::new(key),
    })
}

fn dns_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("bad certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in parsed.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

/// The SNI resolver shared by all TLS listeners; reload swaps the store.
#[derive(Debug)]
pub struct SniResolver {
    pub store: ArcSwap<CertStore>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store.load().resolve(hello.server_name())
    }
}

/// A verifier for client certificates signed by the CAs in `ca_file`.
pub fn client_verifier(
    ca_file: &Path,
    required: bool,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    install_crypto();
    let pem = std::fs::read(ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| format!("{}: bad PEM: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: bad CA certificate: {e}", ca_file.display()))?;
    }
    let builder = WebPkiClientVerifier::builder(Arc::new(roots));
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| format!("{}: {e}", ca_file.display()))
}

/// Writes a self-signed certificate for `host` into `dir` as `HOST.crt` and
/// `HOST.key` (mode 0600). For development: browsers will not trust it.
pub fn generate_self_signed(dir: &Path, host: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut names = vec![host.to_string()];
    if host == "localhost" {
        names.push("127.0.0.1".into());
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    std::fs::create_dir_all(dir)?;
    let stem: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    std::fs::write(&cert_path, certified.cert.pem())?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    Ok((cert_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Who a client certificate says the caller is, for mTLS listeners. Stored on
/// the connection at handshake time; sent upstream as
/// `x-client-cert-subject` and `x-client-cert-san`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject as an RFC 4514 string, e.g. `CN=service-a,O=Example`.
    pub subject: String,
    /// DNS names, URIs and e-mail addresses from the subject alternative names.
    pub sans: Vec<String>,
}

impl ClientIdentity {
    pub fn from_der(der: &[u8]) -> Option<ClientIdentity> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut sans = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) | GeneralName::URI(s) | GeneralName::RFC822Name(s) => {
                        sans.push(s.to_string())
                    }
                    _ => {}
                }
            }
        }
        Some(ClientIdentity {
            subject: cert.subject().to_string(),
            sans,
        })
    }
}

/// Records the verified client certificate's identity on the connection.
pub struct IdentityCallback;

#[async_trait::async_trait]
impl pingora::listeners::TlsAccept for IdentityCallback {
    async fn handshake_complete_callback(
        &self,
        tls: &pingora::protocols::tls::TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let identity = ClientIdentity::from_der(tls.peer_certificate_der()?)?;
        Some(Arc::new(identity))
    }
}
