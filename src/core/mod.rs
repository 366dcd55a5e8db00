//! Everything that decides, and nothing that touches the runtime: no `worker` here.

pub mod authorize;
pub mod callback;
pub mod config;
pub mod cookies;
pub mod crypto;
pub mod discovery;
pub mod field;
pub mod forwarder;
pub mod handoff;
pub mod http;
pub mod id_token;
pub mod jwks;
pub mod log;
pub mod member;
pub mod pages;
pub mod random;
pub mod return_to;
pub mod secret;
pub mod session;
pub mod slots;
pub mod tasks;
pub mod tenant;
pub mod tenant_record;
pub mod token;
pub mod webhook;
