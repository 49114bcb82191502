//! Logging for the worker-free modules: the runtime's console in wasm, stderr in native
//! tests (where the console does not exist).

/// Logs `message` as a warning.
pub(crate) fn warn(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_warn!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("warn: {message}");
}

/// Logs `message`.
pub(crate) fn info(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("info: {message}");
}
