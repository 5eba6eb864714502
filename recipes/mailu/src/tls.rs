//! How the suite trusts the mail daemons' certificate, explicitly and never blindly:
//!
//! - a certificate that chains to the platform's CA (the testbed CA, or the system roots on a
//!   cc-ci host, where the real recipe's certificate comes from Traefik's ACME resolver) and
//!   names the app's domain is trusted, as any mail client would;
//! - otherwise only the one certificate pinned for the deployment: the one the fixture's image
//!   made at first start for the app's domain, read as a file from the container that serves it
//!   ([`Trust::of`]), and compared byte for byte with what the server presents.
//!
//! Any other certificate fails the handshake. The handshake's signatures are always checked
//! with the presented certificate, so the server proves it holds the key.

use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use harness::prelude::*;
use rustls::{
    DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};

/// Where the fixture's image keeps the certificate it made (the `certs` volume of `app`).
pub const PINNED_CERT_PATH: &str = "/certs/cert.pem";
/// The service whose container holds it.
pub const CERT_SERVICE: &str = "app";

/// The trust anchors of one deployment's mail endpoints.
#[derive(Clone)]
pub struct Trust {
    pub domain: String,
    roots: Arc<RootCertStore>,
    pinned: Option<CertificateDer<'static>>,
}

impl Trust {
    /// The platform's roots, and the certificate the deployment's image made, when it has one
    /// (the real recipe has none: its certificate must chain to the roots).
    pub async fn of(d: &Deployment) -> anyhow::Result<Trust> {
        let pem = match &d.run().platform.ca_pem {
            Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading the platform CA {}", path.display()))?,
            None => std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").context("reading the system roots")?,
        };
        let mut roots = RootCertStore::empty();
        for der in pem_certificates(&pem)? {
            roots.add(der).context("adding a root certificate")?;
        }
        let pinned = match d.exec(CERT_SERVICE, &["cat", PINNED_CERT_PATH]).await {
            Ok(out) if out.exit_code == 0 => Some(
                pem_certificates(&String::from_utf8_lossy(&out.stdout))?
                    .into_iter()
                    .next()
                    .with_context(|| format!("{PINNED_CERT_PATH} in {} holds no certificate", d.service(CERT_SERVICE)))?,
            ),
            _ => None,
        };
        Ok(Trust { domain: d.domain().to_owned(), roots: Arc::new(roots), pinned })
    }

    /// A rustls client configuration that trusts exactly what this module says.
    pub fn client_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone()).build().context("building the CA verifier")?;
        let verifier = Arc::new(PinOrChain { provider: provider.clone(), webpki, pinned: self.pinned.clone() });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    pub fn server_name(&self) -> anyhow::Result<ServerName<'static>> {
        ServerName::try_from(self.domain.clone()).with_context(|| format!("server name {:?}", self.domain))
    }
}

/// The DER certificates of a PEM bundle.
pub fn pem_certificates(pem: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let mut out = vec![];
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, body.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", None) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b)) => {
                let der = base64::engine::general_purpose::STANDARD.decode(b.as_bytes()).context("a PEM certificate's base64")?;
                out.push(CertificateDer::from(der));
                body = None;
            }
            (l, Some(b)) => b.push_str(l),
            _ => {}
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct PinOrChain {
    provider: Arc<CryptoProvider>,
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Option<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinOrChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.as_ref().is_some_and(|p| p.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
