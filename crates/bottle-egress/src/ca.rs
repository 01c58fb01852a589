//! The per-bottle CA: generated at launch, used by the proxy to mint leaf
//! certificates on the fly.
//!
//! Leaves share one P-256 key per proxy process (minted at start) and are
//! cached per host, so an intercepted handshake costs one signature the
//! first time a host is seen and none afterwards.

use crate::error::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// A freshly generated CA, as PEM text. `Debug` hides the key.
#[derive(Clone)]
pub struct GeneratedCa {
    /// The CA certificate (give it to the agent's trust stores).
    pub cert_pem: String,
    /// The CA's PKCS#8 private key (only the proxy sidecar gets it).
    pub key_pem: String,
}

impl fmt::Debug for GeneratedCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedCa")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Validity of a generated CA. A bottle lives for a session; a year leaves
/// room for long-running ones without making a leaked key useful forever.
const CA_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Leaves are valid this long and re-minted well before.
const LEAF_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
const LEAF_REMINT_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
/// Tolerate clocks that lag the proxy's.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// Generate a per-bottle ECDSA P-256 CA whose subject names the bottle.
pub fn generate(bottle_name: &str) -> Result<GeneratedCa, Error> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("bottle egress CA ({bottle_name})"),
    );
    dn.push(DnType::OrganizationName, "bottle");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key).map_err(ca_err)?;
    Ok(GeneratedCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Write a generated CA to `dir/ca.pem` and `dir/ca.key` (the key with mode
/// 0600) and return the two paths. A convenience for tests and the launcher.
pub fn write_files(
    ca: &GeneratedCa,
    dir: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), Error> {
    let cert = dir.join("ca.pem");
    let key = dir.join("ca.key");
    std::fs::write(&cert, &ca.cert_pem)?;
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&key)?;
        f.write_all(ca.key_pem.as_bytes())?;
    }
    Ok((cert, key))
}

fn ca_err(e: rcgen::Error) -> Error {
    Error::Ca(e.to_string())
}

fn random_serial() -> SerialNumber {
    // Unique per process and per leaf: time, pid and a counter, hashed by the
    // ring-backed key generator's entropy would be nicer but this suffices
    // for uniqueness, which is all clients check.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(t as u64).to_be_bytes());
    bytes[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    bytes[12..].copy_from_slice(&(n as u32).to_be_bytes());
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // non-zero, fixed length
    SerialNumber::from_slice(&bytes)
}

/// The loaded CA plus the leaf cache.
pub(crate) struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    provider: Arc<rustls::crypto::CryptoProvider>,
    cache: Mutex<HashMap<String, (Instant, Arc<ServerConfig>)>>,
    cache_size: usize,
}

impl CertAuthority {
    /// Load the CA from PEM files.
    pub fn load(
        cert: &Path,
        key: &Path,
        cache_size: usize,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, Error> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| Error::Pem {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        };
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        Self::from_pem(&cert_pem, &key_pem, cache_size, provider).map_err(|e| match e {
            Error::Ca(m) => Error::Pem {
                path: format!("{} / {}", cert.display(), key.display()),
                message: m,
            },
            other => other,
        })
    }

    /// Load the CA from PEM text.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        cache_size: usize,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, Error> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| Error::Ca(format!("CA key: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| Error::Ca(format!("CA certificate: {e}")))?;
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
        Ok(Self {
            issuer,
            leaf_key,
            provider,
            cache: Mutex::new(HashMap::new()),
            cache_size: cache_size.max(1),
        })
    }

    /// A server config presenting a leaf for `host` (a name, or an IP in
    /// canonical form), with ALPN `h2` and `http/1.1`.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, cfg)) = cache.get(host)
            && at.elapsed() < LEAF_REMINT_AFTER
        {
            return Ok(cfg.clone());
        }
        let cfg = Arc::new(self.mint(host)?);
        if cache.len() >= self.cache_size {
            // Coarse eviction keeps this simple and bounded; a bottle talks to
            // a handful of hosts, so the cache rarely fills.
            cache.clear();
        }
        cache.insert(host.to_string(), (Instant::now(), cfg.clone()));
        Ok(cfg)
    }

    fn mint(&self, host: &str) -> Result<ServerConfig, Error> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into().map_err(ca_err)?),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_VALIDITY;
        params.serial_number = Some(random_serial());
        let cert = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(ca_err)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Ca(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
            .map_err(|e| Error::Ca(e.to_string()))?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_loads_and_mints_cached_leaves() {
        let ca = generate("dev").unwrap();
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!format!("{ca:?}").contains("PRIVATE KEY"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let auth = CertAuthority::from_pem(&ca.cert_pem, &ca.key_pem, 4, provider).unwrap();
        let a = auth.server_config("api.example.com").unwrap();
        let b = auth.server_config("api.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second lookup must hit the cache");
        let c = auth.server_config("127.0.0.1").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn bad_pem_is_an_error() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        assert!(CertAuthority::from_pem("nope", "nope", 4, provider).is_err());
    }
}
