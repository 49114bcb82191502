//! Guarding operator endpoints (metric queries today; purges and key admin later).

use edge_core::admin;
use edge_core::error::CommonError;
use worker::{Env, Request};

use crate::config;

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
