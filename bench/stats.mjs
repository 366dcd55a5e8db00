// Small statistics and formatting helpers for the benchmark report.

/** Nearest-rank percentile (p in 0..100) of a numeric array. */
export function percentile(values, p) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** { median, min, max } over runs. */
export function spread(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

export function fmt(x, digits = 2) {
  if (!Number.isFinite(x)) return 'n/a';
  return x.toFixed(digits);
}

/** "median (min–max)" */
export function fmtSpread(s, digits = 2) {
  if (!s || !Number.isFinite(s.median)) return 'n/a';
  if (s.n <= 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}
