//! The settings page's pages once the operator is known: the tenant list, the tenant form
//! (edit, create, save), Test connection, webhook-secret rotation and delete.

use crate::core::config::ConfigErrors;
use crate::core::log::RequestLog;
use crate::core::pages::{
    delete_page, list_page, tenant_form_page, CheckWords, Notice, OktaSetup, TenantForm, TenantRow,
    Viewer,
};
use crate::core::secret::WebhookSecret;
use crate::core::settings::form::{display_values, errors_by_field, Source, Submitted};
use crate::core::settings::Operator;
use crate::core::tenant::TenantId;
use crate::core::tenant_record::Tenant;
use crate::core::tenant_write::{prepare, Previous, WriteError};

use super::super::respond::{self, AppError, Response};
use super::super::tenant_store::{self, StoreError};
use super::super::{check, rand, settings, Ctx};
use super::{forbidden, not_found, refuse, storage_down};

pub(super) struct Pages<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) operator: &'a Operator,
    pub(super) csrf: String,
}

impl Pages<'_> {
    fn viewer(&self) -> Viewer<'_> {
        match self.operator {
            Operator::Staff { .. } => Viewer {
                who: "Platform staff",
                sign_out_csrf: Some(&self.csrf),
            },
            Operator::Admin { email, .. } => Viewer {
                who: email,
                sign_out_csrf: None,
            },
        }
    }

    fn setup(&self, tenant: &Tenant) -> OktaSetup {
        let origin = self.ctx.tenant_origin(&tenant.id);
        OktaSetup {
            sign_in_redirect_uri: tenant.config.sign_in_redirect_uri(&origin),
            sign_out_redirect_uri: tenant.config.sign_out_redirect_uri(&origin),
            initiate_login_uri: format!("{origin}/login/initiate"),
        }
    }

    async fn store(
        &self,
    ) -> Result<
        (
            super::super::kv::Kv,
            std::rc::Rc<crate::core::crypto::KeyRing>,
        ),
        AppError,
    > {
        let kv = self.ctx.kv()?;
        let keys = settings::keyring(self.ctx.env).map_err(|e| super::super::misconfigured(e.0))?;
        Ok((kv, keys))
    }

    /// The tenant `id` as stored, if this operator may edit it; else the refusal.
    async fn editable(
        &self,
        id: &str,
        log: &mut RequestLog,
    ) -> Result<Result<Tenant, Response>, AppError> {
        let Ok(tid) = TenantId::parse(id) else {
            return Ok(Err(not_found(log)));
        };
        log.tenant = Some(tid.to_string());
        let (kv, keys) = self.store().await?;
        match tenant_store::load(self.ctx, &kv, &keys, tid.as_str()).await {
            Ok(Some(t)) if self.operator.may_edit(&t) => Ok(Ok(t)),
            // An admin learns nothing about tenants that are not theirs.
            Ok(_) if !self.operator.is_staff() => {
                Ok(Err(forbidden(log, "settings_not_your_tenant")))
            }
            Ok(None) => Ok(Err(not_found(log))),
            Ok(Some(_)) => Ok(Err(forbidden(log, "settings_not_your_tenant"))),
            Err(StoreError::Unreadable(why)) => {
                log.detail = Some(why);
                Ok(Err(refuse(
                    log,
                    409,
                    "stored_tenant_unreadable",
                    "This tenant cannot be read",
                    "Its stored record no longer opens (for example after a lost CONFIG_KEY). \
                     Platform staff can replace it through the admin API with its client secret.",
                )))
            }
            Err(_) => Ok(Err(storage_down(log))),
        }
    }

    /// `GET /settings`.
    pub(super) async fn home(&self, log: &mut RequestLog) -> Result<Response, AppError> {
        let (kv, keys) = self.store().await?;
        let mut tenants = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let Ok(page) = kv.list("tenant:", cursor.as_deref()).await else {
                return Ok(storage_down(log));
            };
            for name in &page.names {
                let id = name.trim_start_matches("tenant:");
                if let Ok(Some(t)) = tenant_store::load(self.ctx, &kv, &keys, id).await {
                    if self.operator.may_edit(&t) {
                        tenants.push(t);
                    }
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let rows: Vec<TenantRow<'_>> = tenants
            .iter()
            .map(|t| TenantRow {
                id: &t.id,
                okta_domain: &t.config.okta_domain,
                enabled: t.config.enabled,
                button_label: &t.config.sign_in_button_label,
            })
            .collect();
        let deleted = self
            .ctx
            .url
            .query_pairs()
            .find(|(k, _)| k == "deleted")
            .and_then(|(_, v)| TenantId::parse(&v).ok())
            .map(|id| format!("Deleted {id}."));
        let notice = deleted.as_deref().map(Notice::Info);
        let page = list_page(
            &self.viewer(),
            &rows,
            self.operator.is_staff(),
            notice.as_ref(),
            &rand::token(),
        );
        Ok(respond::html(page))
    }

    /// The edit form of a stored tenant, with whatever the last action showed.
    fn edit_form(
        &self,
        tenant: &Tenant,
        notice: Option<Notice<'_>>,
        secret: Option<&str>,
        check: Option<&CheckWords>,
        status: u16,
    ) -> Response {
        let public = tenant.public_json();
        let values = display_values(&Source::Stored(
            public.as_object().unwrap_or(&Default::default()),
        ));
        let setup = self.setup(tenant);
        let viewer = self.viewer();
        let page = tenant_form_page(
            &TenantForm {
                viewer: &viewer,
                csrf: &self.csrf,
                id: Some(&tenant.id),
                typed_id: &tenant.id,
                values: &values,
                errors: &[],
                staff: self.operator.is_staff(),
                setup: Some(&setup),
                notice,
                new_webhook_secret: secret,
                check,
                status,
            },
            &rand::token(),
        );
        respond::html(page)
    }

    /// A refused save: the form again with each error by its field, what was typed kept
    /// (never the secret), nothing stored.
    fn refused_form(
        &self,
        id: Option<&str>,
        typed_id: &str,
        form: &Submitted,
        errors: &ConfigErrors,
        status: u16,
    ) -> Response {
        let values = display_values(&Source::Typed(form));
        let by_field = errors_by_field(&errors.0);
        let viewer = self.viewer();
        let page = tenant_form_page(
            &TenantForm {
                viewer: &viewer,
                csrf: &self.csrf,
                id,
                typed_id,
                values: &values,
                errors: &by_field,
                staff: self.operator.is_staff(),
                setup: None,
                notice: None,
                new_webhook_secret: None,
                check: None,
                status,
            },
            &rand::token(),
        );
        respond::html(page)
    }

    /// `GET|POST /settings/tenants/{id}`: the form, or a save.
    pub(super) async fn tenant(
        &self,
        id: &str,
        form: Option<Submitted>,
        log: &mut RequestLog,
    ) -> Result<Response, AppError> {
        let tenant = match self.editable(id, log).await? {
            Ok(t) => t,
            Err(refusal) => return Ok(refusal),
        };
        let Some(form) = form else {
            let saved = self.ctx.url.query_pairs().any(|(k, _)| k == "saved");
            let notice = saved.then_some(Notice::Info("Saved."));
            return Ok(self.edit_form(&tenant, notice, None, None, 200));
        };
        // An Access admin can change neither the custom domains nor who the admins are: such
        // fields in their form are a forgery, and their stored values are kept.
        let keep = if self.operator.is_staff() {
            None
        } else {
            if form.names_staff_only_field() {
                return Ok(forbidden(log, "settings_staff_only_field"));
            }
            Some(tenant.public_json())
        };
        let raw = form.to_raw(keep.as_ref().and_then(|v| v.as_object()));
        let (kv, keys) = self.store().await?;
        let tid =
            TenantId::parse(&tenant.id).map_err(|_| super::super::misconfigured("tenant id"))?;
        match tenant_store::put(self.ctx, &kv, &keys, &tid, raw).await {
            Ok(_) => {
                log.outcome = "saved";
                Ok(respond::redirect(
                    303,
                    &format!("/settings/tenants/{}?saved=1", tenant.id),
                    &[],
                ))
            }
            Err(e) => Ok(self.store_refusal(Some(&tenant.id), &tenant.id, &form, e, log)),
        }
    }

    fn store_refusal(
        &self,
        id: Option<&str>,
        typed_id: &str,
        form: &Submitted,
        e: StoreError,
        log: &mut RequestLog,
    ) -> Response {
        match e {
            StoreError::Invalid(errors) => {
                log.error = Some("invalid_config");
                self.refused_form(id, typed_id, form, &errors, 422)
            }
            StoreError::DomainTaken(errors) => {
                log.error = Some("domain_taken");
                self.refused_form(id, typed_id, form, &errors, 409)
            }
            StoreError::Unreadable(why) => {
                log.detail = Some(why);
                log.error = Some("stored_tenant_unreadable");
                let errors = ConfigErrors::one(
                    "client_secret",
                    "the stored record cannot be read: enter the client secret to replace it",
                );
                self.refused_form(id, typed_id, form, &errors, 409)
            }
            StoreError::NotFound => not_found(log),
            StoreError::Storage => storage_down(log),
        }
    }

    /// `GET|POST /settings/new` (staff): the create form lives outside `/settings/tenants/`,
    /// so a tenant called `new` has its page like any other.
    pub(super) async fn create(
        &self,
        form: Option<Submitted>,
        log: &mut RequestLog,
    ) -> Result<Response, AppError> {
        let Some(form) = form else {
            let values = display_values(&Source::New);
            let viewer = self.viewer();
            let page = tenant_form_page(
                &TenantForm {
                    viewer: &viewer,
                    csrf: &self.csrf,
                    id: None,
                    typed_id: "",
                    values: &values,
                    errors: &[],
                    staff: true,
                    setup: None,
                    notice: None,
                    new_webhook_secret: None,
                    check: None,
                    status: 200,
                },
                &rand::token(),
            );
            return Ok(respond::html(page));
        };
        let typed_id = form.get("id").unwrap_or_default().trim().to_string();
        let raw = form.to_raw(None);
        let Ok(id) = TenantId::parse(&typed_id) else {
            let mut errors = ConfigErrors::one(
                "id",
                "must be 1–63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            );
            // The other fields are judged as well, through the same path as a save (as a
            // create: a missing client secret is said too), so every error shows at once.
            if let Ok(any) = TenantId::parse("new") {
                let ctx = self.ctx.config_context();
                let unused = WebhookSecret::new("");
                if let Err(WriteError::Invalid(e)) =
                    prepare(&any, raw, Previous::None, &ctx, unused)
                {
                    errors.0.extend(e.0);
                }
            }
            log.error = Some("invalid_tenant_id");
            return Ok(self.refused_form(None, &typed_id, &form, &errors, 422));
        };
        log.tenant = Some(id.to_string());
        let (kv, keys) = self.store().await?;
        match tenant_store::load(self.ctx, &kv, &keys, id.as_str()).await {
            Ok(None) => {}
            Ok(Some(_)) | Err(StoreError::Unreadable(_)) => {
                log.error = Some("tenant_id_taken");
                let errors = ConfigErrors::one("id", "is already taken by another tenant");
                return Ok(self.refused_form(None, &typed_id, &form, &errors, 409));
            }
            Err(_) => return Ok(storage_down(log)),
        }
        match tenant_store::put(self.ctx, &kv, &keys, &id, raw).await {
            Ok(stored) => {
                log.outcome = "created";
                let secret = stored.tenant.webhook_secret.secret().to_string();
                Ok(self.edit_form(
                    &stored.tenant,
                    Some(Notice::Info(
                        "Created. Now set up the app in Okta as below.",
                    )),
                    Some(&secret),
                    None,
                    201,
                ))
            }
            Err(e) => Ok(self.store_refusal(None, &typed_id, &form, e, log)),
        }
    }

    /// `POST /settings/tenants/{id}/check`: "Test connection".
    pub(super) async fn check(&self, id: &str, log: &mut RequestLog) -> Result<Response, AppError> {
        let tenant = match self.editable(id, log).await? {
            Ok(t) => t,
            Err(refusal) => return Ok(refusal),
        };
        let (ok, headline, lines) = check::run(self.ctx, &tenant).await.in_words();
        log.outcome = if ok { "check_ok" } else { "check_problem" };
        let words = CheckWords {
            ok,
            headline,
            lines,
        };
        Ok(self.edit_form(&tenant, None, None, Some(&words), 200))
    }

    /// `POST /settings/tenants/{id}/webhook-secret` (staff): the new secret, shown once.
    pub(super) async fn rotate(
        &self,
        id: &str,
        log: &mut RequestLog,
    ) -> Result<Response, AppError> {
        let tenant = match self.editable(id, log).await? {
            Ok(t) => t,
            Err(refusal) => return Ok(refusal),
        };
        let (kv, keys) = self.store().await?;
        let tid =
            TenantId::parse(&tenant.id).map_err(|_| super::super::misconfigured("tenant id"))?;
        match tenant_store::rotate_webhook_secret(self.ctx, &kv, &keys, &tid).await {
            Ok(secret) => {
                log.outcome = "webhook_secret_rotated";
                let notice = Notice::Info(
                    "The webhook secret was rotated: for 24 hours deliveries carry a signature \
                     under each secret.",
                );
                Ok(self.edit_form(&tenant, Some(notice), Some(secret.secret()), None, 200))
            }
            Err(_) => Ok(storage_down(log)),
        }
    }

    /// `GET|POST /settings/tenants/{id}/delete` (staff): the confirmation, then the delete.
    pub(super) async fn delete(
        &self,
        id: &str,
        form: Option<Submitted>,
        log: &mut RequestLog,
    ) -> Result<Response, AppError> {
        let tenant = match self.editable(id, log).await? {
            Ok(t) => t,
            Err(refusal) => return Ok(refusal),
        };
        if form.is_none() {
            let viewer = self.viewer();
            return Ok(respond::html(delete_page(
                &viewer,
                &tenant.id,
                &self.csrf,
                &rand::token(),
            )));
        }
        let (kv, _) = self.store().await?;
        let tid =
            TenantId::parse(&tenant.id).map_err(|_| super::super::misconfigured("tenant id"))?;
        match tenant_store::delete(self.ctx, &kv, &tid).await {
            Ok(()) => {
                log.outcome = "deleted";
                Ok(respond::redirect(
                    303,
                    &format!("/settings?deleted={}", tenant.id),
                    &[],
                ))
            }
            Err(_) => Ok(storage_down(log)),
        }
    }
}
