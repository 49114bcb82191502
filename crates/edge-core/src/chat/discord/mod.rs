//! Discord interactions: Ed25519 signatures, interaction parsing, slash commands from one
//! source of truth (`commands.json`), component ids, responses, and calling the API
//! (`User-Agent`, 429 retries, multipart bodies).

pub mod api;
pub mod command;
pub mod component;
pub mod interaction;
pub mod response;
pub mod signature;
