//! portal-sso: OpenID Connect sign-in gateway for member portals, as a Cloudflare Worker.
//!
//! `core` decides (pure, native-testable); `edge` touches the Workers runtime (wasm32 only).

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;
