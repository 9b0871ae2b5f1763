// The page itself: static HTML with a small script that fetches /status.json every two
// seconds and draws the path as SVG. No external assets, so it works offline.

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Reseal mesh status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #f7f8fa; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  .muted { color: #667; }
  svg { background: #fff; border: 1px solid #dde; border-radius: 6px; width: 100%; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eef; font-size: 13px; vertical-align: top; }
  code { font-size: 12px; }
  .enc { color: #0a7a32; font-weight: 600; }
  .plain { color: #a35c00; font-weight: 600; }
  .bad { color: #b00020; font-weight: 600; }
</style>
</head>
<body>
<h1>Reseal mesh status</h1>
<div class="muted" id="meta">loading…</div>
<h2>Topology: the path of a request</h2>
<svg id="topology" viewBox="0 0 1200 300" role="img" aria-label="mesh topology"></svg>
<h2>Hops</h2>
<table id="edges"><thead><tr><th>from</th><th>to</th><th>protection</th><th>rate</th><th>total</th><th>evidence</th></tr></thead><tbody></tbody></table>
<h2>Workload certificates in use</h2>
<table id="workloads"><thead><tr><th>pod</th><th>SPIFFE ID</th><th>sidecar admin</th><th>serial</th><th>expires</th><th>renewals</th></tr></thead><tbody></tbody></table>
<h2>Edge certificates</h2>
<table id="entrypoints"><thead><tr><th>entry point</th><th>url</th><th>TLS</th><th>subject</th><th>expires</th></tr></thead><tbody></tbody></table>
<h2>Certificates issued by the control plane</h2>
<div class="muted" id="issued-total"></div>
<table id="issued"><thead><tr><th>issued</th><th>SPIFFE ID</th><th>serial</th><th>expires</th></tr></thead><tbody></tbody></table>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmtRate = (e) => e.requestsPerSecond !== undefined ? e.requestsPerSecond.toFixed(1) + ' req/s'
  : e.connectionsPerSecond !== undefined ? e.connectionsPerSecond.toFixed(1) + ' conn/s' : '–';
const fmtBytes = (b) => b === undefined ? '' : b > 10240 ? (b / 1024).toFixed(0) + ' KiB/s' : b.toFixed(0) + ' B/s';
const expires = (s) => s <= 0 ? '<span class="bad">expired</span>' : 'in ' + s + ' s';
function rows(id, html) { document.querySelector('#' + id + ' tbody').innerHTML = html.join(''); }

function draw(snapshot) {
  const svg = document.getElementById('topology');
  const order = [];
  const seen = new Set();
  const visit = (id) => { if (!seen.has(id)) { seen.add(id); order.push(id); } };
  for (const e of snapshot.edges) { visit(e.from); visit(e.to); }
  for (const n of snapshot.nodes) visit(n.id);
  const byId = new Map(snapshot.nodes.map((n) => [n.id, n]));
  const width = Math.max(1200, order.length * 170);
  const step = width / order.length;
  const pos = new Map(order.map((id, i) => [id, { x: step * i + step / 2, y: 150 }]));
  svg.setAttribute('viewBox', '0 0 ' + width + ' 300');
  let out = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#556"/></marker></defs>';
  // Pods as background boxes around their app and sidecar.
  const pods = new Map();
  for (const id of order) { const n = byId.get(id); if (n && n.pod) { const p = pos.get(id); const b = pods.get(n.pod) ?? { min: p.x, max: p.x }; b.min = Math.min(b.min, p.x); b.max = Math.max(b.max, p.x); pods.set(n.pod, b); } }
  for (const [pod, b] of pods) {
    out += '<rect x="' + (b.min - 75) + '" y="70" width="' + (b.max - b.min + 150) + '" height="160" rx="10" fill="#eef2f8" stroke="#c9d3e3"/>';
    out += '<text x="' + ((b.min + b.max) / 2) + '" y="88" text-anchor="middle" font-size="12" fill="#556">pod ' + esc(pod) + '</text>';
  }
  snapshot.edges.forEach((e, i) => {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) return;
    const colour = e.encrypted ? '#0a7a32' : e.kind === 'loopback' ? '#a35c00' : '#b00020';
    const x1 = a.x + 62, x2 = b.x - 62;
    const mid = (x1 + x2) / 2;
    out += '<g class="edge" data-kind="' + e.kind + '" data-encrypted="' + e.encrypted + '" data-from="' + esc(e.from) + '" data-to="' + esc(e.to) + '">';
    out += '<line x1="' + x1 + '" y1="150" x2="' + x2 + '" y2="150" stroke="' + colour + '" stroke-width="' + (e.kind === 'mesh' ? 5 : 3) + '"' + (e.encrypted ? '' : ' stroke-dasharray="6 4"') + ' marker-end="url(#arrow)"/>';
    const mark = e.encrypted ? (e.kind === 'mesh' ? 'mTLS · encrypted' : 'TLS · encrypted') : e.kind === 'loopback' ? 'loopback · plaintext' : 'PLAINTEXT';
    out += '<text class="edge-mark" x="' + mid + '" y="' + (i % 2 ? 182 : 134) + '" text-anchor="middle" font-size="12" font-weight="600" fill="' + colour + '">' + esc(mark) + '</text>';
    out += '<text class="edge-rate" x="' + mid + '" y="' + (i % 2 ? 197 : 119) + '" text-anchor="middle" font-size="11" fill="#445">' + esc(fmtRate(e)) + '</text>';
    out += '</g>';
  });
  for (const id of order) {
    const n = byId.get(id) ?? { id, label: id, role: 'client' };
    const p = pos.get(id);
    const fill = n.role === 'sidecar' ? '#dff3e6' : n.role === 'client' ? '#fff6dd' : '#ffffff';
    out += '<g class="node" data-role="' + n.role + '"><rect x="' + (p.x - 62) + '" y="' + (p.y - 24) + '" width="124" height="48" rx="6" fill="' + fill + '" stroke="#889"/>';
    const title = n.role === 'client' ? n.label : n.role === 'sidecar' ? 'reseal-proxy' : 'app';
    out += '<text x="' + p.x + '" y="' + (p.y - 4) + '" text-anchor="middle" font-size="13" font-weight="600">' + esc(title) + '</text>';
    const sub = n.spiffeId ? n.spiffeId.replace(/^spiffe:\\/\\/[^/]+/, '') : n.pod ?? '';
    out += '<text x="' + p.x + '" y="' + (p.y + 13) + '" text-anchor="middle" font-size="10" fill="#556">' + esc(sub) + '</text></g>';
  }
  svg.innerHTML = out;
}

async function refresh() {
  try {
    const response = await fetch('status.json', { cache: 'no-store' });
    const s = await response.json();
    document.getElementById('meta').textContent = 'trust domain ' + s.trustDomain + ' · root CA expires ' + s.ca.rootNotAfter + ' · issuing CA expires ' + s.ca.issuerNotAfter + ' · updated ' + new Date(s.generatedAt).toLocaleTimeString();
    draw(s);
    rows('edges', s.edges.map((e) => '<tr class="edge-row" data-kind="' + e.kind + '" data-encrypted="' + e.encrypted + '"><td>' + esc(e.from) + '</td><td>' + esc(e.to) + '</td><td class="' + (e.encrypted ? 'enc' : e.kind === 'loopback' ? 'plain' : 'bad') + '">' + (e.encrypted ? 'encrypted: ' : '') + esc(e.protection) + '</td><td class="rate">' + esc(fmtRate(e)) + ' ' + esc(fmtBytes(e.bytesPerSecond)) + '</td><td>' + esc(e.connectionsTotal ?? '') + '</td><td class="muted">' + esc(e.evidence) + '</td></tr>'));
    rows('workloads', s.workloads.map((w) => '<tr class="workload"><td>' + esc(w.pod) + '</td><td><code>' + esc(w.spiffeId) + '</code></td><td>' + (w.adminUrl ? '<a href="' + esc(w.adminUrl) + '/debug/identity">' + esc(w.adminUrl) + '</a>' : '–') + (w.reachable ? '' : ' <span class="bad">' + esc(w.error ?? 'unreachable') + '</span>') + '</td><td><code>' + esc(w.certificate?.serial ?? '–') + '</code></td><td class="expiry">' + (w.certificate ? expires(w.certificate.expiresInSeconds) + ' <span class="muted">(' + esc(w.certificate.notAfter) + ')</span>' : '–') + '</td><td>' + (w.certificate?.renewals ? w.certificate.renewals.success + ' issued' + (w.certificate.renewals.failure ? ', ' + w.certificate.renewals.failure + ' failed' : '') + (w.certificate.nextRenewal ? ', next ' + new Date(w.certificate.nextRenewal).toLocaleTimeString() : '') : '–') + '</td></tr>'));
    rows('entrypoints', s.entrypoints.map((p) => '<tr><td>' + esc(p.name) + '</td><td>' + esc(p.url) + '</td><td class="' + (p.ok ? 'enc' : 'bad') + '">' + esc(p.ok ? p.protocol + ' ' + (p.cipher ?? '') : p.error ?? 'not probed') + '</td><td>' + esc(p.certificate?.subject ?? '') + '</td><td>' + esc(p.certificate?.notAfter ?? '') + '</td></tr>'));
    document.getElementById('issued-total').textContent = s.certificates.issuedTotal + ' issued since start; the latest:';
    rows('issued', s.certificates.recent.map((c) => '<tr class="issued"><td>' + new Date(c.issuedAt).toLocaleTimeString() + '</td><td><code>' + esc(c.spiffeId) + '</code></td><td><code>' + esc(c.serial) + '</code></td><td>' + expires(c.expiresInSeconds) + '</td></tr>'));
    document.body.dataset.loaded = 'true';
  } catch (error) {
    document.getElementById('meta').textContent = 'cannot reach the control plane: ' + error;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
