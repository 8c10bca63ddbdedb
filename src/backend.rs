//! The jsonwebtoken crypto backend.

/// With both backend features on, jsonwebtoken can't pick one by itself: use aws-lc-rs.
pub(crate) fn install_crypto_provider() {
    #[cfg(all(feature = "aws-lc-rs", feature = "rust-crypto"))]
    {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    }
}
