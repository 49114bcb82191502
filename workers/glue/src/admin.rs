//! Guarding operator endpoints (metric queries today; purges and key admin later).

use edge_core::admin;
use edge_core::error::CommonError;
use edge_core::signed::seal;
use worker::{Env, Request};

use crate::{Hop, config, now_ms};

/// The identity auth-validator seals an operator request with once it has checked the
/// admin secret itself (the secret is not forwarded).
pub const SEALED_OPERATOR: &str = "admin-secret";

/// Name of the secret that guards operator endpoints.
pub const ADMIN_SECRET: &str = "ADMIN_SECRET";

/// Checks that `req` carries `Authorization: Bearer <ADMIN_SECRET>`, in constant time.
///
/// # Errors
/// [`CommonError::Unauthorized`] for a missing or wrong header;
/// [`CommonError::Misconfigured`] when the secret is unset or shorter than 16 bytes, so an
/// unconfigured deployment keeps its operator endpoints closed.
pub fn require_admin(req: &Request, env: &Env) -> Result<(), CommonError> {
    let secret = config::required_string(env, ADMIN_SECRET)?;
    let authorization = req.headers().get("authorization").ok().flatten();
    admin::authorize(authorization.as_deref(), &secret)
}

/// Checks an operator request that arrives by service binding: either sealed by
/// auth-validator, which checked the admin secret and did not forward it (a seal over
/// this request's id, method and path, keyed from the same secret), or carrying the
/// secret itself (`Authorization: Bearer`, for callers inside the account).
///
/// # Errors
/// [`CommonError::Unauthorized`] for a bad seal or secret; [`CommonError::Misconfigured`]
/// as [`require_admin`].
pub fn require_sealed_admin(req: &Request, env: &Env, hop: &Hop) -> Result<(), CommonError> {
    let Some(value) = req.headers().get(seal::HEADER).ok().flatten() else {
        return require_admin(req, env);
    };
    let secret = config::required_string(env, ADMIN_SECRET)?;
    admin::check_configured(&secret)?;
    let (method, path) = (req.inner().method(), req.path());
    let sealed = seal::Sealed {
        request_id: hop.request_id.as_str(),
        method: &method,
        path: &path,
        subject: SEALED_OPERATOR,
        permissions: SEALED_OPERATOR,
    };
    if seal::verify(&secret, &sealed, &value, now_ms() / 1000) {
        Ok(())
    } else {
        Err(CommonError::Unauthorized)
    }
}
