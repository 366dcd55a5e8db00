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
