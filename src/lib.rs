//! portal-sso: OpenID Connect sign-in gateway for member portals, as a Cloudflare Worker.
//!
//! `core` decides (pure, native-testable); `edge` touches the Workers runtime (wasm32 only).

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;

/// The wasm's allocator: Talc instead of the standard library's dlmalloc. bench/ab.mjs,
/// 2026-11-27: -0.097 and -0.064 ms CPU per login (two runs of 30 paired rounds), and the
/// module 2 KB smaller. The worker is single-threaded (no `atomics`), which this form needs.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
