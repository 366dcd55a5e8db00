//! `GET /logout` (RP-initiated logout at the IdP) and `GET /login/logout` (where the IdP sends
//! the member back). The landing only ever redirects to a configured `portal_url`.

use super::request::Request;
use url::Url;

use crate::core::cookies;
use crate::core::log::RequestLog;
use crate::core::pages::signed_out_page;
use crate::core::session::{id_token_aad, PendingLogout, Session, PENDING_LOGOUT_TTL_SECS};
use crate::core::tenant_record::Tenant;

use super::respond::{self, AppError, Response};
use super::{idp, load_tenant, rand, settings, Ctx};

/// `GET /logout` — ends the worker session and sends the member to the IdP's end-session
/// endpoint; with no session, straight to `/login/logout`.
pub async fn start(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let kv = ctx.kv()?;
    let local_dev = ctx.settings.local_dev;
    let clear = ("set-cookie", cookies::clear_session_cookie(local_dev));
    let sid = ctx.cookie(req, cookies::SESSION);
    let session: Option<Session> = match &sid {
        Some(sid) => kv.get_json(&format!("session:{sid}")).await.ok().flatten(),
        None => None,
    };
    let (Some(sid), Some(session)) = (sid, session.filter(|s| s.tenant == tenant.id)) else {
        log.outcome = "no_session";
        return Ok(respond::redirect(302, "/login/logout", &[clear]));
    };
    let _ = kv.delete(&format!("session:{sid}")).await;
    let issuer = tenant.config.issuer(local_dev);
    let end_session = idp::metadata(&kv, &issuer, ctx.now())
        .await
        .ok()
        .and_then(|m| m.end_session_endpoint.clone());
    let keys = settings::keyring(ctx.env).ok();
    let id_token = keys
        .and_then(|k| k.open(&session.id_token_sealed, &id_token_aad(&sid)).ok())
        .and_then(|o| String::from_utf8(o.plaintext).ok());
    let (Some(endpoint), Some(id_token)) = (end_session, id_token) else {
        log.outcome = "signed_out_locally";
        return Ok(respond::redirect(302, "/login/logout", &[clear]));
    };
    let state = rand::token();
    let pending = serde_json::to_string(&PendingLogout {
        tenant: tenant.id.clone(),
    })
    .unwrap_or_default();
    let _ = kv
        .put(
            &format!("logout:{state}"),
            &pending,
            Some(PENDING_LOGOUT_TTL_SECS),
        )
        .await;
    // SPEC: null means `{tenant origin}/login/logout` — the tenant's own host, the one the
    // Okta setup registers, even when this `/logout` came in on a custom domain.
    let post_logout = tenant
        .config
        .sign_out_redirect_uri(&ctx.tenant_origin(&tenant.id));
    let Ok(mut url) = Url::parse(&endpoint) else {
        return Ok(respond::redirect(302, "/login/logout", &[clear]));
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &post_logout)
        .append_pair("state", &state);
    log.outcome = "redirect_to_idp_logout";
    Ok(respond::redirect(302, url.as_str(), &[clear]))
}

/// `GET /login/logout` — with a known logout `state`, on to the tenant's portal; otherwise a
/// plain "you are signed out" page.
pub async fn landing(
    ctx: &Ctx<'_>,
    tenant: Option<&Tenant>,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let state = ctx
        .url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .filter(|s| s.len() <= 128);
    if let Some(state) = state {
        let kv = ctx.kv()?;
        let key = format!("logout:{state}");
        let pending: Option<PendingLogout> = kv.get_json(&key).await.ok().flatten();
        if let Some(pending) = pending {
            log.tenant = Some(pending.tenant.clone());
            let target = match tenant {
                Some(t) if t.id == pending.tenant => Some(t.config.portal_url.clone()),
                Some(_) => None,
                None => load_tenant(ctx, &pending.tenant)
                    .await
                    .ok()
                    .map(|t| t.config.portal_url.clone()),
            };
            if let Some(portal) = target {
                // Consumed only when it is used, so a stray hit on another tenant's host
                // does not spend the member's logout.
                let _ = kv.delete(&key).await;
                log.outcome = "signed_out_to_portal";
                return Ok(respond::redirect(302, &portal, &[]));
            }
        }
    }
    log.outcome = "signed_out_page";
    let portal = tenant.map(|t| t.config.portal_url.as_str());
    Ok(respond::html(signed_out_page(portal, &rand::token())))
}
