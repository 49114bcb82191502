//! A last step over a worker's final response, for a worker that adds something to every
//! response it sends, errors included (the entry's CORS headers).
//!
//! The handler still only returns `Result<R, E>` (any `R: Into<Reply>`), [`serve`](crate::serve) still
//! turns the `Err` into the response in its one place, and the last step decorates
//! whatever came out, knowing from the handler's result what it should add:
//!
//! ```ignore
//! let last = edge_glue::finish::LastStep::default();
//! let resp = edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| {
//!     last.choose(handle(req, env, hop), |result| {
//!         let refused = result.is_err();
//!         move |resp| Ok(resp) // decorate the runtime `Response` as `refused` says
//!     })
//! })
//! .await?;
//! last.apply(resp)
//! ```

use std::cell::RefCell;
use std::future::Future;

use worker::web_sys::Response;

/// The step chosen from the handler's result ([`LastStep::choose`]), applied to the final
/// response ([`LastStep::apply`]).
pub struct LastStep<G>(RefCell<Option<G>>);

impl<G> Default for LastStep<G> {
    fn default() -> Self {
        Self(RefCell::new(None))
    }
}

impl<G: FnOnce(Response) -> worker::Result<Response>> LastStep<G> {
    /// Runs the handler's future `handled` (inside [`serve`](crate::serve)'s handler) and
    /// keeps the step `then` chooses from its result, before `serve` answers an `Err`.
    ///
    /// # Errors
    /// The handler's, unchanged.
    pub async fn choose<R, E>(
        &self,
        handled: impl Future<Output = Result<R, E>>,
        then: impl FnOnce(&Result<R, E>) -> G,
    ) -> Result<R, E> {
        let result = handled.await;
        *self.0.borrow_mut() = Some(then(&result));
        result
    }

    /// Applies the chosen step to the final response (after the error mapping, the
    /// request id, the delivery checks); the response as it is when none was chosen.
    ///
    /// # Errors
    /// The step's own.
    pub fn apply(&self, resp: Response) -> worker::Result<Response> {
        let step = self.0.borrow_mut().take();
        match step {
            Some(step) => step(resp),
            None => Ok(resp),
        }
    }
}
