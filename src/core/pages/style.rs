//! The one stylesheet every member page inlines (allowed by the CSP nonce): no external
//! assets, light and dark schemes, visible focus, and AA contrast in both schemes.

pub(super) const STYLESHEET: &str = r#"
:root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--text:#111827;--muted:#4b5563;
--border:#e5e7eb;--accent:#1d4ed8;--accent-hover:#1e40af;--on-accent:#fff;--link:#1d4ed8;
--focus:#2563eb;--detail:#f9fafb;--warn-bg:#fef3c7;--warn:#92400e;--wait-bg:#dbeafe;
--wait:#1e40af;--ok-bg:#dcfce7;--ok:#166534;--neutral-bg:#f3f4f6;--neutral:#374151;
--shadow:0 1px 2px rgba(16,24,40,.06),0 16px 40px -12px rgba(16,24,40,.18)}
@media (prefers-color-scheme:dark){:root{--bg:#0b0f17;--card:#161c27;--text:#f3f4f6;
--muted:#a7b0bd;--border:#2b3443;--accent:#2563eb;--accent-hover:#1d4ed8;--link:#93c5fd;
--focus:#93c5fd;--detail:#111722;--warn-bg:#3a2a0c;--warn:#fcd34d;--wait-bg:#172a4d;
--wait:#93c5fd;--ok-bg:#0f2e1c;--ok:#86efac;--neutral-bg:#222a37;--neutral:#d1d5db;
--shadow:0 1px 2px rgba(0,0,0,.4),0 16px 40px -12px rgba(0,0,0,.6)}}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;min-height:100vh;min-height:100dvh;display:flex;flex-direction:column;
align-items:center;justify-content:center;padding:32px 16px;background:var(--bg);
color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",
"Liberation Sans",Arial,sans-serif;-webkit-font-smoothing:antialiased}
main{width:100%;max-width:420px;background:var(--card);border:1px solid var(--border);
border-radius:16px;padding:40px 36px 36px;box-shadow:var(--shadow);text-align:center}
h1{font-size:1.5rem;line-height:1.3;font-weight:650;letter-spacing:-.01em;margin:20px 0 8px}
p{margin:0 0 20px}
h1,.lede,.hint{text-wrap:balance}
main>:last-child{margin-bottom:0}
.lede{color:var(--muted)}
.lede strong{color:var(--text);font-weight:600}
.badge{width:56px;height:56px;border-radius:14px;display:flex;align-items:center;
justify-content:center;margin:0 auto}
.badge svg{width:28px;height:28px}
.tone-brand{background:var(--accent);color:var(--on-accent)}
.tone-warn{background:var(--warn-bg);color:var(--warn)}
.tone-wait{background:var(--wait-bg);color:var(--wait)}
.tone-ok{background:var(--ok-bg);color:var(--ok)}
.tone-neutral{background:var(--neutral-bg);color:var(--neutral)}
.button{display:flex;align-items:center;justify-content:center;width:100%;min-height:48px;
margin:0;padding:12px 20px;border:1px solid transparent;border-radius:10px;font:inherit;
font-weight:600;line-height:1.3;text-align:center;text-decoration:none;cursor:pointer;
overflow-wrap:anywhere;transition:background-color .15s,border-color .15s}
.primary{background:var(--accent);color:var(--on-accent)}
.primary:hover{background:var(--accent-hover)}
.secondary{background:transparent;color:var(--text);border-color:var(--border)}
.secondary:hover{background:var(--detail)}
a{color:var(--link);text-underline-offset:2px}
:focus-visible{outline:3px solid var(--focus);outline-offset:3px}
.hint{font-size:.875rem;color:var(--muted);margin:12px 0 0}
.divider{display:flex;align-items:center;gap:12px;margin:24px 0;color:var(--muted);
font-size:.8125rem;text-transform:uppercase;letter-spacing:.06em}
.divider::before,.divider::after{content:"";flex:1;border-top:1px solid var(--border)}
.detail{text-align:left;background:var(--detail);border:1px solid var(--border);
border-radius:10px;padding:12px 14px;margin:0 0 24px;font-size:.875rem;overflow-wrap:anywhere}
.detail p{margin:0}
.detail p+p{margin-top:6px}
.detail .label{font-weight:600;color:var(--muted);margin-bottom:4px}
.detail code{font:.8125rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",
monospace}
.spinner{width:40px;height:40px;margin:8px auto 0;border-radius:50%;
border:3px solid var(--border);border-top-color:var(--accent);animation:spin .9s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
.note{font-size:.875rem;color:var(--muted);margin:16px 0 0}
footer{margin-top:20px;font-size:.8125rem;color:var(--muted);text-align:center}
@media (max-width:480px){body{justify-content:flex-start;padding:24px 12px}
main{padding:32px 20px 28px;border-radius:14px}h1{font-size:1.375rem}}
@media (prefers-reduced-motion:reduce){.spinner{animation:none}.button{transition:none}}
@media (forced-colors:active){.button{border-color:ButtonText}.badge{border:1px solid CanvasText}}
"#;

/// What the settings pages add: a wider layout for forms and tables, a header bar, fields
/// with their help and errors, and panels. Same variables, so both colour schemes hold.
pub(super) const SETTINGS_STYLESHEET: &str = r#"
[hidden]{display:none!important}
body.settings{justify-content:flex-start;align-items:stretch;padding:0}
body.settings main{max-width:760px;margin:24px auto 48px;text-align:left;padding:32px 36px}
.bar{display:flex;flex-wrap:wrap;gap:12px;align-items:center;justify-content:space-between;
padding:12px 20px;background:var(--card);border-bottom:1px solid var(--border)}
.bar .brand{font-weight:650;color:var(--text);text-decoration:none}
.bar .who{color:var(--muted);font-size:.875rem;margin-left:auto}
.settings h1{margin-top:0}
.settings h2{font-size:1.125rem;margin:0 0 8px}
.field{margin:0 0 20px}
.field label{display:block;font-weight:600;margin-bottom:6px}
.field input[type=text],.field input[type=password],.field input:not([type]),.field select,
.field textarea,.stack input{width:100%;font:inherit;color:var(--text);background:var(--bg);
border:1px solid var(--muted);border-radius:8px;padding:10px 12px;min-height:44px}
.field textarea{min-height:88px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.check-field{display:grid;grid-template-columns:auto 1fr;gap:4px 10px;align-items:start}
.check-field input{width:22px;height:22px;margin:2px 0 0}
.check-field label{margin:0}
.check-field .help,.check-field .field-error{grid-column:2}
.help{font-size:.875rem;color:var(--muted);margin:6px 0 0}
.field-error{font-size:.875rem;color:var(--warn);background:var(--warn-bg);border-radius:6px;
padding:6px 10px;margin:6px 0 0;font-weight:600}
[aria-invalid=true]{border-color:var(--warn)!important;border-width:2px!important}
details{border:1px solid var(--border);border-radius:10px;padding:12px 16px;margin:8px 0 24px}
summary{cursor:pointer;font-weight:650;min-height:32px}
.notice{border-radius:10px;padding:12px 14px}
.notice.ok{background:var(--ok-bg);color:var(--ok)}
.notice.bad{background:var(--warn-bg);color:var(--warn);font-weight:600}
.panel{border:1px solid var(--border);background:var(--detail);border-radius:12px;
padding:16px 18px;margin:0 0 24px}
.panel ol,.panel ul{margin:12px 0 0;padding-left:22px}
.panel li{margin:4px 0}
.check.ok{border-color:var(--ok)}
.check.bad{border-color:var(--warn)}
.copy{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.copy-label{font-weight:600;min-width:12em}
.copy code{font:.875rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
overflow-wrap:anywhere;background:var(--card);border:1px solid var(--border);border-radius:6px;
padding:4px 8px;flex:1}
.button.narrow{width:auto;display:inline-flex}
.button.small{width:auto;min-height:36px;padding:6px 12px;font-size:.875rem}
.danger{background:transparent;color:var(--warn);border-color:var(--warn)}
.danger:hover{background:var(--warn-bg)}
.actions{display:flex;flex-wrap:wrap;gap:12px;margin:24px 0}
.actions .button{width:auto}
form.inline{display:inline}
.link-button{background:none;border:0;color:var(--link);font:inherit;cursor:pointer;
text-decoration:underline;padding:4px}
.stack{display:flex;flex-direction:column;gap:10px;margin:0 0 16px}
table{width:100%;border-collapse:collapse;margin:0 0 20px}
th,td{text-align:left;padding:10px 8px;border-bottom:1px solid var(--border);vertical-align:top}
thead th{color:var(--muted);font-size:.8125rem;text-transform:uppercase;letter-spacing:.04em}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:640px){body.settings main{margin:0;border-radius:0;padding:24px 16px}
.copy-label{min-width:0}table,thead,tbody,tr,th,td{display:block}thead{display:none}
td{border:0;padding:2px 8px}tr{border-bottom:1px solid var(--border);padding:8px 0}}
"#;
