//! [`serve_with`]: [`serve`](crate::serve) with a last step over the final response.
//!
//! For a worker that adds something to every response it sends, errors included (the
//! entry's CORS headers): the handler still only returns `Result<Response, E>`, `serve`
//! still turns the `Err` into the response in its one place, and the last step decorates
//! whatever came out, knowing from the handler's result what it should add.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use edge_core::{HttpError, ServiceName};
use worker::{Context, Env, Request, Response};

use crate::{Hop, Role, serve};

/// Runs `handler` through [`serve`](crate::serve); `then` looks at the handler's result
/// (before `serve` answers an `Err`) and returns the step applied to the final response
/// (after the error mapping, the request id, the delivery checks).
///
/// # Errors
/// As [`serve`](crate::serve), and the last step's own.
pub async fn serve_with<F, Fut, E, T, G>(
    me: ServiceName,
    role: Role,
    req: Request,
    env: Env,
    ctx: Context,
    handler: F,
    then: T,
) -> worker::Result<Response>
where
    F: FnOnce(Request, Env, Hop) -> Fut,
    Fut: Future<Output = Result<Response, E>>,
    E: HttpError,
    T: FnOnce(&Result<Response, E>) -> G,
    G: FnOnce(Response) -> worker::Result<Response>,
{
    let last: Rc<RefCell<Option<G>>> = Rc::default();
    let slot = Rc::clone(&last);
    let resp = serve(me, role, req, env, ctx, |req, env, hop| async move {
        let result = handler(req, env, hop).await;
        *slot.borrow_mut() = Some(then(&result));
        result
    })
    .await?;
    // `serve` always runs the handler; `None` would only mean it did not.
    let step = last.borrow_mut().take();
    match step {
        Some(step) => step(resp),
        None => Ok(resp),
    }
}
