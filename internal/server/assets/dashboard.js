// Dashboard of the lake: reads /api/ (live) or the embedded data (static
// export) and draws cards, SVG charts and tables. No dependencies.
(function () {
  'use strict';
  var boot = window.NEXUS_BOOT || { mode: 'live' };
  var live = boot.mode === 'live';
  var NS = 'http://www.w3.org/2000/svg';
  var $ = function (sel) { return document.querySelector(sel); };

  // ---------- formatting (en-US separators, R$ amounts) ----------
  function group(s) { return s.replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function num(v, d) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    var s = Math.abs(v).toFixed(d), parts = s.split('.');
    var neg = v < 0 && Number(s) !== 0;
    return (neg ? '-' : '') + group(parts[0]) + (parts[1] ? '.' + parts[1] : '');
  }
  function int(v) { return num(v, 0); }
  function brl(v) { return (v === null || v === undefined || !isFinite(v)) ? '—' : 'R$ ' + num(v, 2); }
  function pct(v, d) { return (v === null || v === undefined || !isFinite(v)) ? '—' : num(v * 100, d === undefined ? 1 : d) + '%'; }
  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e6) return num(v / 1e6, a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return num(v / 1e3, a >= 1e4 ? 0 : 1) + 'k';
    return num(v, a > 0 && a < 10 && v % 1 !== 0 ? 1 : 0);
  }
  function compactBRL(v) { return 'R$ ' + compact(v); }
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function day(t) { return t ? String(t).slice(0, 10) : ''; }
  function monthLabel(t) { var d = new Date(t); return MONTHS[d.getUTCMonth()] + ' ' + d.getUTCFullYear(); }
  function ago(t) {
    var s = (Date.now() - new Date(t).getTime()) / 1000;
    if (!isFinite(s)) return '';
    if (s < 90) return 'just now';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 129600) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  }
  function when(t) { return new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'; }

  // ---------- DOM and SVG helpers ----------
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function s(tag, attrs, parent, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function tip(e, text) { s('title', {}, e, text); return e; }
  function svgRoot(w, hgt) {
    return s('svg', { viewBox: '0 0 ' + w + ' ' + hgt, width: w, height: hgt, role: 'img', preserveAspectRatio: 'xMinYMin meet' });
  }
  function mount(id, node, caption) {
    var fig = document.getElementById(id), box = fig.querySelector('.chart');
    box.textContent = '';
    box.appendChild(node);
    var cap = fig.querySelector('figcaption .cap');
    if (!cap) { cap = h('span', { 'class': 'cap' }); fig.querySelector('figcaption').appendChild(cap); }
    cap.textContent = caption || '';
  }
  function empty(id, msg) { mount(id, h('div', { 'class': 'empty' }, msg || 'No data for this filter.')); }
  function ticks(max, n) {
    if (!(max > 0)) return [0, 1];
    var raw = max / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), step = mag;
    [1, 2, 2.5, 5, 10].some(function (m) { step = m * mag; return raw <= step; });
    var out = [];
    for (var v = 0; v <= max + step * 0.999; v += step) out.push(v);
    return out;
  }
  // niceStep rounds raw up to 1, 2, 2.5 or 5 times a power of ten (whole
  // numbers when integer).
  function niceStep(raw, integer) {
    var mag = Math.pow(10, Math.floor(Math.log10(raw))), step = mag;
    [1, 2, 2.5, 5, 10].some(function (m) { step = m * mag; return raw <= step && !(integer && step % 1); });
    return integer ? Math.max(1, Math.ceil(step)) : step;
  }
  function clipText(t, n) { t = String(t); return t.length > n ? t.slice(0, n - 1) + '…' : t; }
  function nice(label) { return String(label).replace(/_/g, ' '); }

  // ---------- charts ----------
  function monthlyChart(points) {
    if (!points || !points.length) return empty('c-monthly');
    var W = 1200, H = 300, L = 78, R = 64, T = 26, B = 42;
    var svg = svgRoot(W, H), pw = W - L - R, ph = H - T - B;
    var maxRev = Math.max.apply(null, points.map(function (p) { return p.revenue; }));
    var maxOrd = Math.max.apply(null, points.map(function (p) { return p.orders; }));
    var tr = ticks(maxRev, 5), n = tr.length - 1, topRev = tr[n];
    // orders share the gridlines: a round step so that n steps cover the max
    var stepOrd = niceStep(Math.max(maxOrd, 1) / n, true), topOrd = stepOrd * n;
    var g = s('g', { 'class': 'grid' }, svg), ax = s('g', { 'class': 'axis' }, svg);
    tr.forEach(function (v) {
      var y = T + ph - v / topRev * ph;
      s('line', { x1: L, x2: W - R, y1: y, y2: y }, g);
      s('text', { x: L - 8, y: y + 4, 'text-anchor': 'end' }, ax, compactBRL(v));
    });
    for (var i = 0; i <= n; i++) {
      var y = T + ph - i / n * ph;
      s('text', { x: W - R + 8, y: y + 4 }, ax, compact(stepOrd * i));
    }
    var bw = pw / points.length, every = Math.ceil(points.length / 14);
    var bars = s('g', {}, svg), line = [];
    points.forEach(function (p, i) {
      var x = L + i * bw, bh = p.revenue / topRev * ph;
      var r = s('rect', { x: x + bw * 0.14, y: T + ph - bh, width: Math.max(1, bw * 0.72), height: Math.max(0, bh), fill: '#1f6fb2', rx: 2 }, bars);
      var txt = monthLabel(p.month) + '\nRevenue ' + brl(p.revenue) + '\nOrders ' + int(p.orders) + '\nAOV ' + brl(p.aov);
      if (p.mom !== undefined && p.mom !== null) txt += '\nMoM ' + pct(p.mom);
      if (p.yoy !== undefined && p.yoy !== null) txt += '\nYoY ' + pct(p.yoy);
      tip(r, txt);
      line.push([x + bw / 2, T + ph - p.orders / topOrd * ph]);
      if (i % every === 0) s('text', { x: x + bw / 2, y: H - B + 16, 'text-anchor': 'middle' }, ax, MONTHS[new Date(p.month).getUTCMonth()]);
      var d = new Date(p.month);
      if (i === 0 || d.getUTCMonth() === 0) s('text', { x: x + bw / 2, y: H - B + 31, 'text-anchor': 'middle', 'font-weight': 600 }, ax, String(d.getUTCFullYear()));
    });
    s('polyline', { points: line.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' '), fill: 'none', stroke: '#e67e22', 'stroke-width': 2.5, 'stroke-linejoin': 'round' }, svg);
    line.forEach(function (p, i) { tip(s('circle', { cx: p[0], cy: p[1], r: 3, fill: '#e67e22' }, svg), monthLabel(points[i].month) + ': ' + int(points[i].orders) + ' orders'); });
    var lg = s('g', { transform: 'translate(' + L + ',8)' }, svg);
    s('rect', { x: 0, y: 0, width: 12, height: 12, fill: '#1f6fb2', rx: 2 }, lg);
    s('text', { x: 17, y: 11, 'font-size': 12 }, lg, 'Revenue (R$, left axis)');
    s('line', { x1: 175, x2: 195, y1: 6, y2: 6, stroke: '#e67e22', 'stroke-width': 2.5 }, lg);
    s('text', { x: 200, y: 11, 'font-size': 12 }, lg, 'Orders (right axis)');
    var tot = points.reduce(function (a, p) { return a + p.revenue; }, 0);
    mount('c-monthly', svg, points.length + ' months · ' + brl(tot));
  }

  // hbars draws labelled horizontal bars: rows [{label, value, text, title}].
  function hbars(id, rows, opts) {
    if (!rows || !rows.length) return empty(id);
    opts = opts || {};
    var W = 600, LW = opts.labelWidth || 190, RW = opts.valueWidth || 150, RH = 26, T = 4;
    var H = T + rows.length * RH + 4, svg = svgRoot(W, H), pw = W - LW - RW;
    var max = Math.max.apply(null, rows.map(function (r) { return r.value; })) || 1;
    rows.forEach(function (r, i) {
      var y = T + i * RH, g = s('g', {}, svg);
      s('text', { x: LW - 8, y: y + RH / 2 + 4, 'text-anchor': 'end', 'font-size': 12.5 }, g, clipText(r.label, 26));
      s('rect', { x: LW, y: y + 4, width: Math.max(1.5, r.value / max * pw), height: RH - 8, rx: 3, fill: r.color || opts.color || '#1f6fb2' }, g);
      s('text', { x: LW + r.value / max * pw + 6, y: y + RH / 2 + 4, 'font-size': 12 }, g, r.text);
      tip(g, r.title || (r.label + ': ' + r.text));
    });
    return svg;
  }

  function categoriesChart(cs) {
    var rows = (cs.by_revenue || []).map(function (c) {
      return { label: nice(c.label || c.key), value: c.revenue, text: compactBRL(c.revenue) + ' · ' + pct(c.share),
        title: nice(c.label || c.key) + '\nRevenue ' + brl(c.revenue) + ' (' + pct(c.share) + ')\nOrders ' + int(c.orders) + '\nUnits ' + int(c.units) };
    });
    var svg = hbars('c-categories', rows, { color: '#1f6fb2' });
    if (svg) mount('c-categories', svg, 'top 3 = ' + pct(cs.top3_share) + ' of revenue');
  }

  var SEGCOLORS = { champions: '#1e8449', loyal: '#27ae60', potential: '#76b7e5', 'new': '#2e86c1', 'need attention': '#d4ac0d',
    'at risk': '#e67e22', hibernating: '#a04000', lost: '#922b21' };
  function rfmChart(r) {
    var order = Object.keys(SEGCOLORS);
    var rank = function (n) { var i = order.indexOf(n); return i < 0 ? order.length : i; };
    var segs = (r.segments || []).slice().sort(function (a, b) { return rank(a.name) - rank(b.name) || b.customers - a.customers; });
    var rows = segs.map(function (sg) {
      return { label: sg.name, value: sg.customers, color: SEGCOLORS[sg.name] || '#7f8c8d',
        text: int(sg.customers) + ' · ' + pct(sg.share) + ' of rev.',
        title: sg.name + '\n' + int(sg.customers) + ' persons\nRevenue ' + brl(sg.revenue) + ' (' + pct(sg.share) + ')\nAvg recency ' + num(sg.avg_recency_days, 0) + ' days\nAvg frequency ' + num(sg.avg_frequency, 2) + '\nAvg monetary ' + brl(sg.avg_monetary) };
    });
    var svg = hbars('c-rfm', rows, { labelWidth: 110, valueWidth: 170 });
    if (svg) mount('c-rfm', svg, 'persons per segment · reference date ' + day(r.reference_date));
  }

  function reviewsChart(rv) {
    var rows = rv.by_punctuality || [];
    if (!rows.length) return empty('c-reviews');
    var W = 600, H = 250, L = 44, T = 22, B = 52, svg = svgRoot(W, H), ph = H - T - B;
    var ax = s('g', { 'class': 'axis' }, svg), g = s('g', { 'class': 'grid' }, svg);
    [0, 1, 2, 3, 4, 5].forEach(function (v) {
      var y = T + ph - v / 5 * ph;
      s('line', { x1: L, x2: W - 10, y1: y, y2: y }, g);
      s('text', { x: L - 8, y: y + 4, 'text-anchor': 'end' }, ax, v + '★');
    });
    var slot = (W - L - 10) / rows.length;
    rows.forEach(function (r, i) {
      var x = L + i * slot + slot * 0.25, bw = slot * 0.5, bh = r.avg_score / 5 * ph;
      var late = /late/i.test(r.label);
      var bar = s('rect', { x: x, y: T + ph - bh, width: bw, height: bh, rx: 3, fill: late ? '#c0392b' : '#1e8449' }, svg);
      tip(bar, r.label + ': ' + int(r.orders) + ' orders, average ' + num(r.avg_score, 2) + ' ★, ' + pct(r.share_low_scores) + ' of reviews 1–2 ★');
      s('text', { x: x + bw / 2, y: T + ph - bh - 6, 'text-anchor': 'middle', 'font-weight': 700, 'font-size': 15 }, svg, num(r.avg_score, 2) + ' ★');
      s('text', { x: x + bw / 2, y: H - B + 18, 'text-anchor': 'middle', 'font-weight': 600, 'font-size': 13 }, svg, r.label);
      s('text', { x: x + bw / 2, y: H - B + 35, 'text-anchor': 'middle', 'font-size': 11.5 }, ax, int(r.orders) + ' orders · ' + pct(r.share_low_scores) + ' 1–2 ★');
    });
    mount('c-reviews', svg, 'correlation of product review with units r = ' + num(rv.product_corr_units, 2) + ', with revenue r = ' + num(rv.product_corr_revenue, 2));
  }

  function deliveryChart(d) {
    var bins = d.histogram || [];
    if (!bins.length) return empty('c-delivery');
    var W = 1200, H = 240, L = 64, R = 16, T = 14, B = 38, svg = svgRoot(W, H), pw = W - L - R, ph = H - T - B;
    var max = Math.max.apply(null, bins.map(function (b) { return b.count; }));
    var tk = ticks(max, 4), top = tk[tk.length - 1];
    var g = s('g', { 'class': 'grid' }, svg), ax = s('g', { 'class': 'axis' }, svg);
    tk.forEach(function (v) {
      var y = T + ph - v / top * ph;
      s('line', { x1: L, x2: W - R, y1: y, y2: y }, g);
      s('text', { x: L - 8, y: y + 4, 'text-anchor': 'end' }, ax, compact(v));
    });
    var bw = pw / bins.length, every = Math.ceil(bins.length / 20);
    bins.forEach(function (b, i) {
      var x = L + i * bw, bh = b.count / top * ph;
      var open = i === bins.length - 1 && bins.length > 1 && (b.hi - b.lo) > (bins[0].hi - bins[0].lo) * 1.5;
      tip(s('rect', { x: x + 1, y: T + ph - bh, width: Math.max(1, bw - 2), height: bh, fill: b.lo >= d.p90 ? '#e67e22' : '#1f6fb2', rx: 1.5 }, svg),
        (open ? num(b.lo, 0) + ' days or more' : num(b.lo, 0) + '–' + num(b.hi, 0) + ' days') + ': ' + int(b.count) + ' orders');
      if (open) s('text', { x: x + bw / 2, y: H - B + 15, 'text-anchor': 'middle' }, ax, num(b.lo, 0) + '+');
      else if (i % every === 0 && !(i >= bins.length - every / 2 - 1 && bins.length > 1)) s('text', { x: x, y: H - B + 15, 'text-anchor': 'middle' }, ax, num(b.lo, 0));
    });
    s('text', { x: L + pw / 2, y: H - 4, 'text-anchor': 'middle' }, ax, 'days from purchase to delivery (orange: slowest 10%)');
    var late = d.late_by_month || [], worst = null;
    late.forEach(function (m) { if (m.orders >= 50 && (!worst || m.share > worst.share)) worst = m; });
    mount('c-delivery', svg, 'average ' + num(d.avg_days, 1) + ' days · median ' + num(d.p50, 1) + ' · p90 ' + num(d.p90, 1) + ' · p95 ' + num(d.p95, 1) + ' · late ' + pct(d.late_share) +
      (worst ? ' · worst month ' + monthLabel(worst.month) + ' (' + pct(worst.share) + ' late)' : ''));
  }

  // Tile-grid map of Brazil's 27 states: [column, row].
  var TILES = {
    RR: [2, 0], AP: [4, 0],
    AM: [1, 1], PA: [3, 1], MA: [4, 1], CE: [5, 1], RN: [6, 1],
    AC: [0, 2], RO: [1, 2], MT: [2, 2], TO: [3, 2], PI: [4, 2], PE: [5, 2], PB: [6, 2],
    MS: [2, 3], GO: [3, 3], DF: [4, 3], BA: [5, 3], AL: [6, 3],
    SP: [3, 4], MG: [4, 4], ES: [5, 4], SE: [6, 4],
    PR: [3, 5], RJ: [4, 5],
    SC: [3, 6],
    RS: [3, 7]
  };
  function statesChart(geo, selected) {
    var rows = geo.states || [];
    if (!rows.length) return empty('c-states');
    var by = {}, max = 0;
    rows.forEach(function (r) { by[r.state] = r; if (r.revenue > max) max = r.revenue; });
    var S = 46, G = 4, W = 600, H = 8 * (S + G) + 10, svg = svgRoot(W, H), x0 = 12;
    Object.keys(TILES).forEach(function (uf) {
      var c = TILES[uf], r = by[uf], x = x0 + c[0] * (S + G), y = 4 + c[1] * (S + G);
      var t = r && max > 0 ? Math.sqrt(r.revenue / max) : 0;
      var fill = r ? mix([232, 240, 248], [16, 70, 130], t) : '#f4f6f8';
      var g = s('g', { 'class': 'tile', 'data-state': uf }, svg);
      s('rect', { x: x, y: y, width: S, height: S, rx: 5, fill: fill, stroke: uf === selected ? '#e67e22' : '#fff', 'stroke-width': uf === selected ? 3 : 1 }, g);
      var dark = t > 0.5;
      s('text', { x: x + S / 2, y: y + 20, 'text-anchor': 'middle', 'font-weight': 700, 'font-size': 13, style: 'fill:' + (dark ? '#fff' : '#1c2833') }, g, uf);
      s('text', { x: x + S / 2, y: y + 36, 'text-anchor': 'middle', 'font-size': 10, style: 'fill:' + (dark ? '#e8f0f8' : '#5d6d7e') }, g, r ? compact(r.revenue) : '–');
      tip(g, r ? uf + '\nRevenue ' + brl(r.revenue) + '\nOrders ' + int(r.orders) + '\nCustomers ' + int(r.customers) + '\nAvg delivery ' + num(r.avg_delivery_days, 1) + ' days\nLate ' + pct(r.late_share) : uf + ': no sales');
      if (live) g.addEventListener('click', function () { setState(uf === selected ? '' : uf); });
    });
    // legend and the top flows beside the map
    var lx = x0 + 7 * (S + G) + 18, ly = 14;
    s('text', { x: lx, y: ly, 'font-weight': 600, 'font-size': 12 }, svg, 'Revenue (R$)');
    for (var i = 0; i <= 4; i++) {
      s('rect', { x: lx + i * 26, y: ly + 6, width: 26, height: 10, fill: mix([232, 240, 248], [16, 70, 130], Math.sqrt(i / 4)) }, svg);
    }
    s('text', { x: lx, y: ly + 30, 'font-size': 10.5 }, svg, '0');
    s('text', { x: lx + 130, y: ly + 30, 'font-size': 10.5, 'text-anchor': 'end' }, svg, compact(max));
    var flows = (geo.flows || []).slice(0, 8);
    if (flows.length) {
      s('text', { x: lx, y: ly + 62, 'font-weight': 600, 'font-size': 12 }, svg, 'Top seller → customer flows');
      flows.forEach(function (f, i) {
        tip(s('text', { x: lx, y: ly + 82 + i * 18, 'font-size': 11.5 }, svg, f.from + ' → ' + f.to + '  ' + compactBRL(f.revenue)), f.from + ' → ' + f.to + ': ' + int(f.orders) + ' orders, ' + brl(f.revenue));
      });
    }
    mount('c-states', svg, 'tile map, darker = more revenue' + (live ? ' · click a state to filter' : ''));
  }
  function mix(a, b, t) {
    t = Math.max(0, Math.min(1, t));
    return 'rgb(' + a.map(function (v, i) { return Math.round(v + (b[i] - v) * t); }).join(',') + ')';
  }

  // ---------- cards and tables ----------
  var KPI = {
    revenue: function (k) { return brl(k.revenue); },
    orders: function (k) { return int(k.orders); },
    aov: function (k) { return brl(k.aov); },
    customers: function (k) { return int(k.customers); },
    repeat_rate: function (k) { return pct(k.repeat_rate); },
    avg_review: function (k) { return num(k.avg_review, 2) + ' / 5'; },
    late_share: function (k) { return pct(k.late_share); }
  };
  function cards(k) {
    Object.keys(KPI).forEach(function (name) {
      document.querySelector('[data-kpi="' + name + '"] .value').textContent = KPI[name](k);
    });
    var range = k.data_from && !/^0001/.test(k.data_from) ? day(k.data_from) + ' to ' + day(k.data_to) : 'no orders';
    $('#scope').textContent = 'Brazilian marketplace orders · purchases ' + range + describeFilter();
  }
  function row(tbody, cells) {
    var tr = h('tr');
    cells.forEach(function (c) { var td = h('td', c.cls ? { 'class': c.cls } : {}, c.text); if (c.title) td.title = c.title; tr.appendChild(td); });
    tbody.appendChild(tr);
  }
  function tables(b) {
    var tb = $('#t-products tbody'), products = b['top-products'] || [], geo = b.geography || {};
    tb.textContent = '';
    products.forEach(function (p, i) {
      row(tb, [{ text: String(i + 1) }, { text: nice(p.label), cls: 'lbl', title: p.key }, { text: brl(p.revenue), cls: 'n' }, { text: int(p.orders), cls: 'n' }, { text: int(p.units), cls: 'n' }, { text: pct(p.share, 2), cls: 'n' }]);
    });
    if (!products.length) row(tb, [{ text: '' }, { text: 'No sales for this filter.' }]);
    tb = $('#t-states tbody');
    tb.textContent = '';
    var st = (geo.states || []).slice().sort(function (a, c) { return c.revenue - a.revenue; }).slice(0, 10);
    st.forEach(function (r) {
      row(tb, [{ text: r.state }, { text: brl(r.revenue), cls: 'n' }, { text: int(r.orders), cls: 'n' }, { text: int(r.customers), cls: 'n' }, { text: num(r.avg_delivery_days, 1) + ' days', cls: 'n' }, { text: pct(r.late_share), cls: 'n' }]);
    });
    if (!st.length) row(tb, [{ text: 'No sales for this filter.' }]);
  }

  // render draws the results of the analyses, keyed by their registry names.
  function render(b) {
    cards(b.kpis);
    monthlyChart(b['monthly-sales']);
    categoriesChart(b['top-categories'] || {});
    statesChart(b.geography || {}, current.state);
    rfmChart(b.rfm || {});
    reviewsChart(b['review-vs-sales'] || {});
    deliveryChart(b.delivery || {});
    tables(b);
  }

  function freshness(fr) {
    var box = $('#freshness');
    box.textContent = '';
    var run = fr && fr.last_run, chk = fr && fr.checks;
    if (!run && !chk) { box.textContent = 'No pipeline run recorded in this lake.'; return; }
    if (run) {
      var line = h('div');
      line.appendChild(h('span', { 'class': 'badge ' + (run.status === 'succeeded' ? 'ok' : 'fail') }, run.status));
      var steps = Object.keys(run.steps || {}).sort().map(function (k) { return run.steps[k] + ' ' + k; }).join(', ');
      line.appendChild(document.createTextNode(' Last run ' + when(run.started) + ' (' + ago(run.started) + ')' + (steps ? ' · ' + steps : '')));
      line.title = 'run ' + run.run_id;
      box.appendChild(line);
      // Why a failed run failed: the first line, the whole text on hover.
      if (run.error) box.appendChild(h('div', { 'class': 'sub', title: run.error }, 'Error: ' + run.error.split('\n')[0].slice(0, 300)));
    }
    if (chk) {
      var cls = chk.fail > 0 ? 'fail' : chk.warn > 0 ? 'warn' : 'ok';
      var l2 = h('div');
      l2.appendChild(h('span', { 'class': 'badge ' + cls }, cls === 'ok' ? 'checks pass' : cls === 'warn' ? 'warnings' : 'checks fail'));
      // The latest verdict of each table's checks, which a run that left a
      // table unchanged did not judge again: not one run's counts.
      l2.appendChild(document.createTextNode(' ' + int(chk.pass) + ' passed · ' + int(chk.warn) + ' warnings · ' + int(chk.fail) + ' failed' +
        ' (the latest verdict of each check; newest: ' + (run && chk.run_id === run.run_id ? 'that run' : chk.kind + ' ' + ago(chk.started)) + ')'));
      l2.title = chk.kind + ' ' + chk.run_id;
      box.appendChild(l2);
      var issues = chk.issues || [];
      if (issues.length) {
        var det = h('details'), ul = h('ul');
        det.appendChild(h('summary', {}, issues.length + ' check(s) not passing'));
        issues.forEach(function (is) {
          ul.appendChild(h('li', {}, is.verdict + ' · ' + is.table + ' · ' + is.check + ' · ' + int(is.rows_failed) + ' rows' + (is.observed ? ' · ' + is.observed : '')));
        });
        det.appendChild(ul);
        box.appendChild(det);
      }
    } else {
      box.appendChild(h('div', {}, 'No quality check results recorded.'));
    }
    if (fr.gold_updated) box.appendChild(h('div', { 'class': 'sub' }, 'Gold tables (' + fr.gold_tables + ') last published ' + when(fr.gold_updated)));
  }

  // ---------- filters and loading ----------
  var current = { from: '', to: '', state: '', category: '' };
  function query(f) {
    var p = [];
    ['from', 'to', 'state', 'category'].forEach(function (k) { if (f[k]) p.push(k + '=' + encodeURIComponent(f[k])); });
    return p.join('&');
  }
  function describeFilter() {
    var parts = [];
    if (current.state) parts.push('state ' + current.state);
    if (current.category) parts.push('category ' + nice(current.category));
    if (current.from || current.to) parts.push('dates ' + (current.from || '…') + ' to ' + (current.to || '…'));
    return parts.length ? ' · filtered: ' + parts.join(', ') : '';
  }
  function fillSelect(sel, values, label) {
    values.forEach(function (v) { sel.appendChild(h('option', { value: v }, label ? label(v) : v)); });
  }
  function showError(msg) {
    var e = $('#error');
    e.hidden = !msg;
    e.textContent = msg || '';
  }
  function getJSON(path) {
    return fetch(path, { headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error((body && body.error) || (r.status + ' ' + r.statusText));
        return body;
      });
    });
  }
  var seq = 0;
  function load() {
    var my = ++seq, q = query(current), qs = q ? '?' + q : '';
    var t0 = performance.now();
    document.body.classList.add('loading');
    $('#status').textContent = 'Querying the lake…';
    // One request per analysis of the dashboard, /api/<its name>, with its defaults.
    var analyses = boot.analyses || [];
    return Promise.all(analyses.map(function (a) {
      return getJSON('/api/' + a.name + qs).catch(function (err) { throw new Error(a.title + ': ' + err.message); });
    })).then(function (res) {
      if (my !== seq) return;
      var b = {};
      analyses.forEach(function (a, i) { b[a.name] = res[i]; });
      showError('');
      render(b);
      $('#status').textContent = 'Updated in ' + Math.round(performance.now() - t0) + ' ms';
      document.body.dataset.loaded = q || 'all';
    }).catch(function (err) {
      if (my !== seq) return;
      showError('Could not load the dashboard: ' + err.message);
      $('#status').textContent = '';
      document.body.dataset.loaded = 'error';
    }).then(function () {
      if (my === seq) document.body.classList.remove('loading');
    });
  }
  function readForm() {
    current = { from: $('#f-from').value, to: $('#f-to').value, state: $('#f-state').value, category: $('#f-category').value };
  }
  function writeForm() {
    $('#f-from').value = current.from; $('#f-to').value = current.to;
    $('#f-state').value = current.state; $('#f-category').value = current.category;
  }
  function apply() {
    readForm();
    var q = query(current);
    history.replaceState(null, '', q ? '?' + q : location.pathname);
    load();
  }
  function setState(uf) { $('#f-state').value = uf; apply(); }

  function startLive() {
    var params = new URLSearchParams(location.search);
    ['from', 'to', 'state', 'category'].forEach(function (k) { current[k] = params.get(k) || ''; });
    getJSON('/api/freshness').then(freshness).catch(function (e) { $('#freshness').textContent = 'Run history unavailable: ' + e.message; });
    getJSON('/api/filters').then(function (fl) {
      fillSelect($('#f-state'), fl.states || []);
      fillSelect($('#f-category'), fl.categories || [], nice);
      ['#f-from', '#f-to'].forEach(function (id) { $(id).min = day(fl.data_from); $(id).max = day(fl.data_to); });
      $('#f-from').placeholder = day(fl.data_from); $('#f-to').placeholder = day(fl.data_to);
      writeForm();
      ['#f-from', '#f-to', '#f-state', '#f-category'].forEach(function (id) { $(id).addEventListener('change', apply); });
      $('#f-reset').addEventListener('click', function () { current = { from: '', to: '', state: '', category: '' }; writeForm(); apply(); });
      $('#filters').addEventListener('submit', function (e) { e.preventDefault(); apply(); });
      return load();
    }).catch(function (e) {
      showError('The lake cannot be queried: ' + e.message);
      document.body.dataset.loaded = 'error';
    });
  }

  function startStatic() {
    var fl = boot.filters || {};
    fillSelect($('#f-state'), fl.states || []);
    fillSelect($('#f-category'), fl.categories || [], nice);
    freshness(boot.freshness);
    render((boot.data && boot.data.analyses) || {});
    $('#status').textContent = 'Exported ' + when(boot.generated);
    document.body.dataset.loaded = 'all';
  }

  if (live) startLive(); else startStatic();
})();
