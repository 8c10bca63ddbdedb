//! RFC 8705 certificate-bound tokens over a real TLS handshake: a rustls server on
//! 127.0.0.1:0 asks for client certificates (made here with rcgen), puts the presented one in
//! the request extensions, and the guard compares it with the token's `cnf["x5t#S256"]`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, ClientCertificate, SenderConstraint, VerifiedToken};
use hyper_util::rt::TokioIo;
use jsonwebtoken::Algorithm;
use rcgen::{BasicConstraints, Certificate, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};

type Ca = (Certificate, KeyPair);
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

struct Pki {
    ca_pem: String,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    ca_der: CertificateDer<'static>,
}

struct Client {
    der: Vec<u8>,
    identity_pem: String,
}

fn ca() -> (Pki, Ca) {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut sp = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = sp.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    let pki = Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server: (server_cert.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()))),
    };
    (pki, (ca_cert, ca_key))
}

fn client(ca: &Ca, name: &str) -> Client {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![format!("{name}.client.test")]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca.0, &ca.1).unwrap();
    Client { der: cert.der().to_vec(), identity_pem: format!("{}{}", key.serialize_pem(), cert.pem()) }
}

async fn handler(token: VerifiedToken) -> String {
    match token.sender_constraint() {
        Some(SenderConstraint::Certificate { x5t_s256 }) => format!("cert {x5t_s256}"),
        _ => "bearer".to_owned(),
    }
}

/// A TLS server that requests (but does not require) a client certificate, so a client without
/// one reaches the guard and gets its answer.
async fn serve(pki: &Pki, app: Router) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .allow_unauthenticated()
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                // What a TLS acceptor does for bearer-guard: the client's certificate goes into
                // every request of the connection as an extension.
                let certificate = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| ClientCertificate::from_der(c.to_vec()));
                let service = hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                    if let Some(c) = &certificate {
                        request.extensions_mut().insert(c.clone());
                    }
                    app.clone().oneshot(request.map(Body::new))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    addr
}

fn https_client(pki: &Pki, identity: Option<&Client>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap());
    if let Some(c) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(c.identity_pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn certificate_bound_tokens_need_the_matching_client_certificate() {
    let (pki, ca) = ca();
    let (alice, mallory) = (client(&ca, "alice"), client(&ca, "mallory"));
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let guard = BearerGuard::builder().issuer(issuer.issuer()).audience(TestIssuer::DEFAULT_AUDIENCE).build().unwrap();
    let app = Router::new().route("/notes", get(handler)).route_layer(guard.layer());
    let addr = serve(&pki, app).await;
    let url = format!("https://127.0.0.1:{}/notes", addr.port());
    let token = issuer.token().certificate_bound(&alice.der).sign().unwrap();

    // The matching certificate: accepted, and the handler sees the binding.
    let r = https_client(&pki, Some(&alice)).get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let expected = ClientCertificate::from_der(alice.der.clone()).thumbprint();
    assert_eq!(r.text().await.unwrap(), format!("cert {expected}"));

    // Another valid client certificate of the same CA: refused.
    let r = https_client(&pki, Some(&mallory)).get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error=\"invalid_token\"") && challenge.contains("another client certificate"),
        "{challenge}"
    );

    // No client certificate: refused.
    let r = https_client(&pki, None).get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("was not presented"), "{challenge}");

    // A token bound to mallory's certificate works for mallory, and a plain token for anyone.
    let mallory_token = issuer.token().certificate_bound(&mallory.der).sign().unwrap();
    let r = https_client(&pki, Some(&mallory)).get(&url).bearer_auth(&mallory_token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let plain = issuer.token().sign().unwrap();
    let r = https_client(&pki, None).get(&url).bearer_auth(&plain).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "bearer");
}

#[tokio::test]
async fn a_client_chosen_header_is_not_a_certificate() {
    let (pki, ca) = ca();
    let alice = client(&ca, "alice");
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let guard = BearerGuard::builder().issuer(issuer.issuer()).audience(TestIssuer::DEFAULT_AUDIENCE).build().unwrap();
    let app = Router::new().route("/notes", get(handler)).route_layer(guard.layer());
    let addr = serve(&pki, app).await;
    let url = format!("https://127.0.0.1:{}/notes", addr.port());
    let token = issuer.token().certificate_bound(&alice.der).sign().unwrap();
    // A thief without alice's key sends her certificate in headers proxies commonly use.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&alice.der);
    let r = https_client(&pki, None)
        .get(&url)
        .bearer_auth(&token)
        .header("x-client-cert", &b64)
        .header("x-ssl-client-cert", &b64)
        .header("x-forwarded-client-cert", format!("Hash={b64}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Alice herself, over TLS: accepted.
    let r = https_client(&pki, Some(&alice)).get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
