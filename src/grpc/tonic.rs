//! tonic helpers (feature `tonic`): the verified token and claims of a `tonic::Request`,
//! scope checks returning `tonic::Status`, and refusals as `tonic::Status`.

use serde::de::DeserializeOwned;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::error::{AuthError, InvalidToken};
use crate::grpc::answer::status_code;
use crate::response::Refusal;
use crate::scope::layer::{Kind, log_refusal, refusal};
use crate::scope::typed::{RequireRole, RoleRequirement};
use crate::scope::{RequireScope, ScopeRequirement};
use crate::verified::{AuthState, VerifiedToken};

/// The verified token of a request that went through the guard's layer.
///
/// An anonymous request (on a guard with
/// [`allow_anonymous`](crate::BearerGuardBuilder::allow_anonymous)) is refused with
/// `UNAUTHENTICATED`; a request that did not go through the layer with `INTERNAL` (a server
/// bug). `request.extensions().get::<VerifiedToken>()` gives the same token as an `Option`.
///
/// ```
/// use bearer_guard::grpc;
///
/// fn author(request: &tonic::Request<()>) -> Result<String, tonic::Status> {
///     let token = grpc::verified_token(request)?;
///     Ok(token.subject().unwrap_or("anonymous").to_owned())
/// }
/// ```
pub fn verified_token<T>(request: &tonic::Request<T>) -> Result<&VerifiedToken, Status> {
    let (token, _) = token_and_state(request)?;
    Ok(token)
}

/// The verified claims deserialized into `C`; claims that don't fit are refused with
/// `UNAUTHENTICATED` ("token claims do not have the expected shape"), as the axum `Claims<C>`
/// extractor refuses them with `401 invalid_token`.
pub fn claims<C: DeserializeOwned, T>(request: &tonic::Request<T>) -> Result<C, Status> {
    let (token, state) = token_and_state(request)?;
    token.claims_as().map_err(|error| {
        tracing::info!(issuer = token.issuer(), %error, "verified claims do not fit the handler's type");
        status(&AuthError::InvalidToken(InvalidToken::UnexpectedClaims), Some(state))
    })
}

fn token_and_state<T>(request: &tonic::Request<T>) -> Result<(&VerifiedToken, &AuthState), Status> {
    let Some(state) = request.extensions().get::<AuthState>() else {
        tracing::error!("bearer-guard tonic helper used on a server without BearerGuardLayer");
        return Err(status(&AuthError::MissingLayer, None));
    };
    match &state.token {
        Some(token) => Ok((token, state)),
        None => Err(status(&AuthError::MissingToken, Some(state))),
    }
}

impl<R: ScopeRequirement> RequireScope<R> {
    /// Checks that the request's token meets `R`, for tonic handlers (feature `tonic`):
    /// `PERMISSION_DENIED` with the needed scopes in `www-authenticate` metadata if not.
    ///
    /// ```
    /// use bearer_guard::RequireScope;
    ///
    /// bearer_guard::scopes! { pub struct NotesWrite = "notes:write"; }
    ///
    /// fn add(request: tonic::Request<String>) -> Result<tonic::Response<()>, tonic::Status> {
    ///     RequireScope::<NotesWrite>::check(&request)?;
    ///     Ok(tonic::Response::new(()))
    /// }
    /// // Without the guard's layer in front, the check fails closed:
    /// assert_eq!(add(tonic::Request::new("hi".into())).unwrap_err().code(), tonic::Code::Internal);
    /// ```
    pub fn check<T>(request: &tonic::Request<T>) -> Result<Self, Status> {
        let (token, state) = token_and_state(request)?;
        if R::is_met(token.scopes()) {
            Ok(Self::new())
        } else {
            log_refusal(token, Kind::Scope, R::NAMES, R::MATCH);
            Err(status(&refusal(Kind::Scope, R::NAMES, R::MATCH), Some(state)))
        }
    }
}

impl<R: RoleRequirement> RequireRole<R> {
    /// Checks that the request's token has the roles `R`, for tonic handlers (feature
    /// `tonic`): `PERMISSION_DENIED` if not.
    pub fn check<T>(request: &tonic::Request<T>) -> Result<Self, Status> {
        let (token, state) = token_and_state(request)?;
        if R::is_met(token.roles()) {
            Ok(Self::new())
        } else {
            log_refusal(token, Kind::Role, R::NAMES, R::MATCH);
            Err(status(&refusal(Kind::Role, R::NAMES, R::MATCH), Some(state)))
        }
    }
}

/// The `tonic::Status` for a refusal, with the challenge of the guard that made `state`.
fn status(error: &AuthError, state: Option<&AuthState>) -> Status {
    let (realm, resource_metadata) = match state {
        Some(state) => (state.rfc6750.realm.as_deref(), state.rfc6750.resource_metadata.as_deref()),
        None => (None, None),
    };
    to_status(error, realm, resource_metadata)
}

fn to_status(error: &AuthError, realm: Option<&str>, resource_metadata: Option<&str>) -> Status {
    let mut metadata = MetadataMap::new();
    if let Some(challenge) = error.challenge(realm, resource_metadata)
        && let Ok(value) = MetadataValue::try_from(challenge)
    {
        metadata.insert("www-authenticate", value);
    }
    if let AuthError::Unavailable { retry_after, .. } = error {
        metadata.insert("retry-after", MetadataValue::from(retry_after.as_secs().max(1)));
    }
    Status::with_metadata(Code::from_i32(i32::from(status_code(error))), error.description(), metadata)
}

impl From<AuthError> for Status {
    /// The gRPC status of the refusal (see the [module docs](crate::grpc)), with the RFC 6750
    /// challenge (`realm="api"`) as `www-authenticate` metadata. Lets a handler that verifies
    /// a token itself write `guard.verify(token).await?`.
    fn from(error: AuthError) -> Self {
        to_status(&error, Some("api"), None)
    }
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        Status::from(refusal.error)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::ScopeMatch;

    #[test]
    fn auth_errors_become_statuses_with_the_challenge() {
        let s = Status::from(AuthError::InvalidToken(InvalidToken::Expired));
        assert_eq!(s.code(), Code::Unauthenticated);
        assert_eq!(s.message(), "token has expired");
        assert_eq!(
            s.metadata().get("www-authenticate").unwrap(),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has expired\""
        );
        let s = Status::from(AuthError::InsufficientScope {
            required: vec![Arc::from("admin")].into(),
            matching: ScopeMatch::All,
        });
        assert_eq!(s.code(), Code::PermissionDenied);
        assert!(s.metadata().get("www-authenticate").unwrap().to_str().unwrap().ends_with("scope=\"admin\""));
    }

    #[test]
    fn helpers_fail_closed_without_the_layer() {
        let request = tonic::Request::new(());
        assert_eq!(verified_token(&request).unwrap_err().code(), Code::Internal);
        assert_eq!(claims::<serde_json::Value, _>(&request).unwrap_err().code(), Code::Internal);
    }
}
