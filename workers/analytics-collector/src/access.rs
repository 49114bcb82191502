//! Who may read analytics (the query API, the Prometheus scrape and the dashboard):
//!
//! - an operator with the admin secret (`Authorization: Bearer <ADMIN_SECRET>`);
//! - a browser signed in with it (the dashboard's session cookie, `edge_core::signed::session`);
//! - a caller auth-validator admitted with the `analytics:read` permission: it forwards
//!   `/api/v1/analytics/edge/…` here with the identity headers sealed
//!   (`edge_core::signed::seal`), so identity headers sent straight to this worker are
//!   worth nothing.

use edge_core::admin;
use edge_core::error::CommonError;
use edge_core::signed::{seal, session};
use edge_glue::Hop;
use worker::Request;

use crate::settings::Settings;

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Decides whether `req` may read analytics at `now_s`.
///
/// # Errors
/// [`CommonError::Unauthorized`] without a valid credential; [`CommonError::Misconfigured`]
/// when `ADMIN_SECRET` is unset or short (every way in is closed then).
pub(crate) fn authorize(
    req: &Request,
    settings: &Settings,
    hop: &Hop,
    now_s: u64,
) -> Result<(), CommonError> {
    let secret = settings.admin_secret()?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    // A sealed request carries the caller's own credential too: the seal decides.
    if let Some(value) = header(seal::HEADER) {
        let (subject, permissions) = (
            header("x-auth-user-id").unwrap_or_default(),
            header("x-auth-permissions").unwrap_or_default(),
        );
        let method = req.inner().method();
        let path = req.path();
        let sealed = seal::Sealed {
            request_id: hop.request_id.as_str(),
            method: &method,
            path: &path,
            subject: &subject,
            permissions: &permissions,
        };
        return if seal::verify(secret, &sealed, &value, now_s) {
            Ok(())
        } else {
            Err(CommonError::Unauthorized)
        };
    }
    if let Some(authorization) = header("authorization") {
        admin::authorize(Some(&authorization), secret)?;
        return Ok(());
    }
    let signed_in = header("cookie")
        .as_deref()
        .and_then(|c| cookie(c, session::COOKIE).map(|v| session::verify(secret, v, now_s)))
        .unwrap_or(false);
    if signed_in {
        Ok(())
    } else {
        Err(CommonError::Unauthorized)
    }
}
