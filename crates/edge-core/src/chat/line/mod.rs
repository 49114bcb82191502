//! The LINE Messaging API: webhook signatures, webhook events, and message limits.

pub mod signature;
pub mod webhook;
