//! Provisioning deliveries: inside the member's request with a bounded retry budget, then on
//! the Queue (consumed by this worker) with growing delays for at least 24 hours.

use std::time::Duration;

use worker::{Delay, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use crate::core::config::ConfigContext;
use crate::core::member::Member;
use crate::core::pages::Problem;
use crate::core::tenant_record::Tenant;
use crate::core::webhook::{
    attempt_timeout_ms, classify, delivery_request, event_body, first_queue_delay_secs,
    next_in_request_delay_ms, next_queue_delay_secs, DeliveryOutcome, ProvisionEvent,
    ProvisioningDelivery, IN_REQUEST_BUDGET_MS,
};

use super::respond::AppError;
use super::settings::{self, Settings};
use super::{outbound, rand, tenants};

const QUEUE_BINDING: &str = "PROVISIONING_QUEUE";
/// Per-attempt time limit for deliveries from the queue consumer.
const QUEUE_ATTEMPT_TIMEOUT_MS: u32 = 10_000;

fn event_for(tenant: &Tenant, issuer: &str, m: &Member) -> ProvisionEvent {
    ProvisionEvent {
        tenant: tenant.id.clone(),
        issuer: issuer.to_string(),
        sub: m.sub.clone(),
        email: m.email.clone(),
        email_verified: m.email_verified.unwrap_or(false),
        name: m.name.clone(),
        given_name: m.given_name.clone(),
        family_name: m.family_name.clone(),
        idp: m.idp.clone(),
        groups: m.groups.clone(),
    }
}

/// Step 8: delivers the `contact.provision` event; `Ok(true)` when the receiver created the
/// contact now. Failures beyond the budget are queued and the member asked to retry shortly.
pub async fn provision(
    env: &Env,
    tenant: &Tenant,
    issuer: &str,
    member: &Member,
) -> Result<bool, AppError> {
    let Some(url) = tenant.config.provisioning_webhook_url.clone() else {
        return Err(AppError::page(Problem::Misconfigured, "no_webhook_url"));
    };
    let started = rand::now_ms();
    let delivery =
        ProvisioningDelivery::new(event_for(tenant, issuer, member), url, started / 1000);
    let body = event_body(&delivery.event, delivery.first_attempt_at);
    let mut attempt = 0u32;
    let mut last_retry_after = None;
    loop {
        let elapsed = rand::now_ms().saturating_sub(started);
        let Some(timeout) = attempt_timeout_ms(elapsed, IN_REQUEST_BUDGET_MS) else {
            break;
        };
        let now = rand::now_secs();
        let req = delivery_request(
            &delivery.url,
            &tenant.webhook_signing_secrets(now),
            &delivery.webhook_id,
            now,
            &body,
            timeout,
        )
        .map_err(|e| {
            AppError::page(Problem::Misconfigured, "webhook_secret_invalid")
                .with_detail(e.to_string())
        })?;
        let result = outbound::send(&req).await;
        attempt += 1;
        match classify(result.as_ref().map_err(|e| *e)) {
            DeliveryOutcome::Delivered { created } => return Ok(created),
            DeliveryOutcome::Rejected { status } => {
                return Err(
                    AppError::page(Problem::ProvisioningRefused, "provisioning_rejected")
                        .with_detail(format!("webhook answered HTTP {status}")),
                )
            }
            DeliveryOutcome::Retry { retry_after_secs } => {
                last_retry_after = retry_after_secs;
                let elapsed = rand::now_ms().saturating_sub(started);
                match next_in_request_delay_ms(
                    attempt,
                    retry_after_secs,
                    elapsed,
                    IN_REQUEST_BUDGET_MS,
                ) {
                    Some(ms) => Delay::from(Duration::from_millis(ms)).await,
                    None => break,
                }
            }
        }
    }
    if let Err(e) = enqueue(env, &delivery, first_queue_delay_secs(last_retry_after)).await {
        // Loud, in the request's one log line: this delivery exists nowhere else now, and an
        // operator must replay it.
        return Err(e.with_detail(format!(
            "delivery lost, replay it: could not enqueue webhook_id {} (sub {}) after {attempt} \
             attempts",
            delivery.webhook_id, delivery.event.sub
        )));
    }
    Err(
        AppError::page(Problem::ProvisioningPending, "provisioning_queued").with_detail(format!(
            "{attempt} attempts failed within the request; queued"
        )),
    )
}

async fn enqueue(
    env: &Env,
    delivery: &ProvisioningDelivery,
    delay_secs: u64,
) -> Result<(), AppError> {
    let queue = env
        .queue(QUEUE_BINDING)
        .map_err(|_| AppError::page(Problem::Misconfigured, "queue_missing"))?;
    let secs = u32::try_from(delay_secs.min(43_200)).unwrap_or(43_200);
    let msg = worker::MessageBuilder::new(delivery.clone())
        .delay_seconds(secs)
        .build();
    queue
        .send(msg)
        .await
        .map_err(|_| AppError::page(Problem::ProvisioningPending, "queue_send_failed"))
}

/// The queue consumer: one attempt per message; a failure is re-enqueued with the attempt
/// count in the body (so the schedule can outlive the consumer's own retry limit).
pub async fn consume(batch: MessageBatch<ProvisioningDelivery>, env: &Env) {
    // Each message is decoded on its own: one unreadable message must not hold up the rest.
    for message in batch.raw_iter() {
        let decoded = js_sys::JSON::stringify(&message.body())
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| serde_json::from_str::<ProvisioningDelivery>(&s).ok());
        let Some(delivery) = decoded else {
            worker::console_error!("{{\"route\":\"queue:provisioning\",\"outcome\":\"dropped\",\"error\":\"queue_message_unreadable\"}}");
            message.ack();
            continue;
        };
        match deliver_from_queue(env, &delivery).await {
            Ok(()) => message.ack(),
            // Storage trouble on our side: try again in a minute, not at once.
            Err(()) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(60)
                    .build(),
            ),
        }
    }
}

fn queue_log(d: &ProvisioningDelivery, outcome: &str, error: Option<&str>) {
    let line = serde_json::json!({
        "tenant": d.event.tenant, "route": "queue:provisioning", "status": 0, "outcome": outcome,
        "duration_ms": 0, "error": error, "sub": d.event.sub, "webhook_id": d.webhook_id, "attempt": d.attempt,
    });
    if error.is_some() {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// `Ok` when the message is done with (delivered, refused, given up, or re-enqueued).
async fn deliver_from_queue(env: &Env, d: &ProvisioningDelivery) -> Result<(), ()> {
    let settings = Settings::from_env(env);
    let ctx = ConfigContext {
        local_dev: settings.local_dev,
        base_domain: &settings.base_domain,
    };
    let (Some(kv), Ok(keys)) = (super::kv::Kv::from_env(env), settings::keyring(env)) else {
        return Err(());
    };
    let tenant = match tenants::load_fresh(&kv, &keys, &ctx, &d.event.tenant).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            queue_log(d, "dropped", Some("provisioning_tenant_gone"));
            return Ok(());
        }
        Err(_) => return Err(()),
    };
    // The tenant's settings of the moment decide: provisioning switched off drops the
    // delivery, a changed webhook URL is followed.
    let url = match (
        &tenant.config.provisioning_webhook_url,
        tenant.config.provision_new_users,
    ) {
        (Some(url), true) => url.clone(),
        _ => {
            queue_log(d, "dropped", Some("provisioning_turned_off"));
            return Ok(());
        }
    };
    let now = rand::now_secs();
    let body = event_body(&d.event, d.first_attempt_at);
    let Ok(req) = delivery_request(
        &url,
        &tenant.webhook_signing_secrets(now),
        &d.webhook_id,
        now,
        &body,
        QUEUE_ATTEMPT_TIMEOUT_MS,
    ) else {
        queue_log(d, "dropped", Some("webhook_secret_invalid"));
        return Ok(());
    };
    let result = outbound::send(&req).await;
    match classify(result.as_ref().map_err(|e| *e)) {
        DeliveryOutcome::Delivered { .. } => {
            queue_log(d, "delivered", None);
            Ok(())
        }
        DeliveryOutcome::Rejected { .. } => {
            queue_log(d, "rejected", Some("provisioning_rejected"));
            Ok(())
        }
        DeliveryOutcome::Retry { retry_after_secs } => {
            match next_queue_delay_secs(d.attempt + 1, d.first_attempt_at, now, retry_after_secs) {
                Some(delay) => {
                    let next = ProvisioningDelivery {
                        attempt: d.attempt + 1,
                        ..d.clone()
                    };
                    queue_log(d, "retry_scheduled", Some("provisioning_retry"));
                    enqueue(env, &next, delay).await.map_err(|_| ())
                }
                None => {
                    // Loud: an operator must look at this member's account by hand.
                    queue_log(d, "gave_up_after_24h", Some("provisioning_undeliverable"));
                    Ok(())
                }
            }
        }
    }
}
