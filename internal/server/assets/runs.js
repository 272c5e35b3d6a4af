// The Runs page: reads /api/runs and draws the grid of jobs × cycles (like
// Airflow's grid view), a run's attempts on click (/api/run), the failed
// checks of the runs and, from their links, quarantined rows
// (/api/quarantine). No dependencies.
(function () {
  'use strict';
  var $ = function (sel) { return document.querySelector(sel); };
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function getJSON(path) {
    return fetch(path, { headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error((body && body.error) || (r.status + ' ' + r.statusText));
        return body;
      });
    });
  }
  function showError(msg) { var e = $('#error'); e.hidden = !msg; e.textContent = msg || ''; }
  function int(v) { return v === null || v === undefined ? '—' : String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function dur(s) {
    if (!(s >= 0)) return '—';
    if (s < 10) return s.toFixed(1) + ' s';
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.round(s % 3600 / 60) + ' min';
  }
  function when(t) { return t ? new Date(t).toISOString().slice(0, 19).replace('T', ' ') + ' UTC' : '—'; }
  function badge(st) { return h('span', { 'class': 'badge st-' + st }, st); }
  function row(tbody, cells) {
    var tr = h('tr');
    cells.forEach(function (c) {
      var td = h('td', c.cls ? { 'class': c.cls } : {});
      if (c.node) td.appendChild(c.node); else td.textContent = c.text === undefined ? '' : c.text;
      if (c.title) td.title = c.title;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
    return tr;
  }

  var params = new URLSearchParams(location.search);

  function cellTitle(job, c, r) {
    var t = job + ' · ' + c.logical_date + ' (cycle ' + c.id + ', ' + c.trigger + ')\n' + r.status + ' · ' + dur(r.seconds) +
      ' · ' + r.attempts + ' attempt' + (r.attempts === 1 ? '' : 's');
    if (r.tries > 1) t += ' · run ' + r.tries + ' times in this cycle';
    t += '\nrows in ' + int(r.rows_in) + ' · out ' + int(r.rows_out) + ' · quarantined ' + int(r.quarantined);
    if (r.checks_failed) t += ' · ' + int(r.checks_failed) + ' failed check(s)';
    if (r.error) t += '\n' + r.error;
    return t;
  }

  function grid(v) {
    var thead = $('#grid thead'), tbody = $('#grid tbody');
    thead.textContent = ''; tbody.textContent = '';
    var hr = h('tr');
    hr.appendChild(h('th', { 'class': 'corner' }, ''));
    v.cycles.forEach(function (c) {
      hr.appendChild(h('th', { title: 'cycle ' + c.id + ' · ' + c.trigger + ' · started ' + when(c.started) }, c.logical_date + (c.trigger !== 'scheduled' ? ' ' + c.trigger : '')));
    });
    thead.appendChild(hr);
    // The cycle's own status, as Airflow's run bar.
    var cr = h('tr');
    cr.appendChild(h('th', { 'class': 'job' }, 'cycle'));
    v.cycles.forEach(function (c) {
      var td = h('td');
      var b = h('span', { 'class': 'cell cycle st-' + c.status, 'data-cycle': String(c.id), 'data-status': c.status });
      b.title = 'cycle ' + c.id + ' · ' + c.logical_date + ' · ' + c.trigger + ' · ' + c.status + (c.reason ? '\n' + c.reason : '') +
        '\nstarted ' + when(c.started) + (c.ended ? ' · ended ' + when(c.ended) : '') + (c.deadline ? '\nSLA deadline ' + when(c.deadline) : '');
      td.appendChild(b);
      cr.appendChild(td);
    });
    tbody.appendChild(cr);
    v.jobs.forEach(function (job) {
      var tr = h('tr');
      tr.appendChild(h('th', { 'class': 'job' }, job));
      v.cycles.forEach(function (c) {
        var td = h('td'), r = c.runs[job];
        if (!r) {
          var e = h('span', { 'class': 'cell empty' });
          e.title = job + ' · ' + c.logical_date + ': not run in this cycle' + (c.status === 'skipped' && c.reason ? ' (cycle skipped: ' + c.reason + ')' : '');
          td.appendChild(e);
        } else {
          var b = h('button', { type: 'button', 'class': 'cell st-' + r.status, 'data-run': String(r.id), 'data-job': job, 'data-status': r.status, 'aria-label': job + ' ' + c.logical_date + ' ' + r.status });
          b.title = cellTitle(job, c, r);
          if (r.attempts > 1) b.appendChild(h('span', { 'class': 'n' }, String(r.attempts)));
          b.addEventListener('click', function () { detail(r.id, b); });
          td.appendChild(b);
        }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    var lg = $('#legend');
    lg.textContent = '';
    (v.statuses || []).forEach(function (st) {
      var sp = h('span');
      sp.appendChild(h('i', { 'class': 'st-' + st }));
      sp.appendChild(document.createTextNode(st));
      lg.appendChild(sp);
    });
    lg.appendChild(h('span', {}, 'a number: attempts · hover for duration, click for details'));
    $('#grid-cap').textContent = v.cycles.length + ' cycle(s), oldest first';
    $('#grid-panel').hidden = false;
  }

  function detail(id, btn) {
    document.querySelectorAll('.cell.sel').forEach(function (e) { e.classList.remove('sel'); });
    if (btn) btn.classList.add('sel');
    var box = $('#detail');
    box.hidden = false;
    box.textContent = 'Reading run ' + id + '…';
    getJSON('/api/run?id=' + id).then(function (d) {
      var r = d.run;
      box.textContent = '';
      var t = h('h3', {}, 'Run ' + r.id + ' · ' + r.job + ' · ' + r.logical_date + ' ');
      t.appendChild(badge(r.status));
      box.appendChild(t);
      var dl = h('dl');
      [['task', r.task], ['cycle', String(r.cycle_id)], ['started', when(r.started)], ['ended', r.ended ? when(r.ended) : 'running'], ['duration', dur(r.seconds)],
        ['attempts', String(r.attempts)], ['rows', 'in ' + int(r.rows_in) + ' · out ' + int(r.rows_out) + ' · quarantined ' + int(r.quarantined)],
        ['failed checks', int(r.checks_failed)], ['snapshot', r.snapshot ? String(r.snapshot) : '—'], ['lake run', r.lake_run || '—'], ['note', r.note || '']
      ].forEach(function (p) { if (p[1]) { dl.appendChild(h('dt', {}, p[0])); dl.appendChild(h('dd', {}, p[1])); } });
      if (r.error) { dl.appendChild(h('dt', {}, 'error')); dl.appendChild(h('dd', { 'class': 'err' }, r.error + (r.permanent ? ' (permanent: not retried)' : ''))); }
      box.appendChild(dl);
      var tb = h('tbody'), tbl = h('table', { id: 'attempts' });
      var th = h('thead'), htr = h('tr');
      ['attempt', 'status', 'started', 'duration', 'steps', 'failed checks', 'error'].forEach(function (c) { htr.appendChild(h('th', {}, c)); });
      th.appendChild(htr); tbl.appendChild(th); tbl.appendChild(tb);
      d.attempts.forEach(function (a) {
        var secs = a.ended ? (new Date(a.ended) - new Date(a.started)) / 1000 : NaN;
        var steps = (a.steps || []).map(function (s) { return s.name + ' ' + s.status + ' (' + dur(s.seconds) + ')'; }).join(', ');
        var checks = (a.failed_checks || []).map(function (c) { return c.table + ' ' + c.check_id; }).join(', ');
        row(tb, [{ text: String(a.n) }, { node: badge(a.status) }, { text: when(a.started) }, { text: dur(secs) },
          { text: (a.steps || []).length + ' step(s)', title: steps }, { text: checks || '—' },
          { text: (a.error || '') + (a.error && a.transient ? ' (transient: retried)' : '') }]);
      });
      box.appendChild(tbl);
    }).catch(function (e) { box.textContent = 'Run ' + id + ': ' + e.message; });
  }

  function quarantineHref(c) {
    var q = new URLSearchParams();
    if (params.get('cycles')) q.set('cycles', params.get('cycles'));
    q.set('quarantine', c.quarantine_table);
    q.set('check', c.check_id);
    return '/runs?' + q.toString() + '#quarantine';
  }

  function checks(list) {
    var tb = $('#checks tbody');
    tb.textContent = '';
    list.forEach(function (c) {
      var link = c.quarantine_table ? h('a', { href: quarantineHref(c), 'data-quarantine': c.quarantine_table }, c.quarantine_table) : null;
      row(tb, [{ text: String(c.run_id) }, { text: c.job }, { text: c.logical_date }, { text: c.table }, { text: c.check_id }, { text: c.kind },
        { text: c.severity }, { text: c.blocking ? 'yes' : 'no' }, { text: int(c.rows_failed), cls: 'n' }, { text: c.observed || '' },
        link ? { node: link } : { text: c.on_fail === 'keep' ? 'kept (on_fail: keep)' : '—' }]);
    });
    $('#checks-panel').hidden = !list.length;
  }

  function quarantine() {
    var table = params.get('quarantine');
    if (!table) return Promise.resolve();
    var check = params.get('check') || '', box = $('#quarantine');
    box.hidden = false;
    $('#q-title').textContent = 'Quarantined rows of ' + table + (check ? ' · check ' + check : '');
    $('#q-cap').textContent = 'Reading…';
    var q = new URLSearchParams({ table: table, limit: '100' });
    if (check) q.set('check', check);
    return getJSON('/api/quarantine?' + q.toString()).then(function (d) {
      var thead = $('#q-rows thead'), tb = $('#q-rows tbody');
      thead.textContent = ''; tb.textContent = '';
      var tr = h('tr');
      d.columns.forEach(function (c) { tr.appendChild(h('th', {}, c)); });
      thead.appendChild(tr);
      d.rows.forEach(function (r) {
        row(tb, r.map(function (v) {
          var t = v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
          return { text: t, title: t };
        }));
      });
      $('#q-cap').textContent = 'showing ' + int(d.rows.length) + ' of ' + int(d.total) + ' row(s) · lake snapshot ' + d.snapshot +
        ' (the quarantine now, not at the run) · nexus quarantine show ' + d.table + (d.check ? ' --check ' + d.check : '');
      if (location.hash === '#quarantine') box.scrollIntoView();
    }).catch(function (e) { $('#q-cap').textContent = 'Quarantine unavailable: ' + e.message; });
  }

  function summary(v) {
    var box = $('#summary');
    box.textContent = '';
    var last = v.cycles[v.cycles.length - 1], line = h('div');
    line.appendChild(badge(last.status));
    line.appendChild(document.createTextNode(' Last cycle ' + last.logical_date + ' (' + last.trigger + '), started ' + when(last.started)));
    box.appendChild(line);
    var counts = {};
    v.cycles.forEach(function (c) { Object.keys(c.runs).forEach(function (j) { var s = c.runs[j].status; counts[s] = (counts[s] || 0) + 1; }); });
    box.appendChild(h('div', {}, Object.keys(counts).sort().map(function (s) { return counts[s] + ' ' + s; }).join(' · ') + ' run(s) shown'));
    if (v.paused) box.appendChild(h('div', {}, 'The scheduled cycles are paused (nexus scheduler resume).'));
  }

  function start() {
    var q = new URLSearchParams();
    if (params.get('cycles')) q.set('cycles', params.get('cycles'));
    var qs = q.toString();
    getJSON('/api/runs' + (qs ? '?' + qs : '')).then(function (v) {
      showError('');
      if (!v.store || !v.cycles.length) {
        var none = $('#none');
        none.textContent = v.message || document.body.dataset.noRuns;
        none.hidden = false;
        $('#summary').textContent = 'No run recorded.';
        document.body.dataset.loaded = 'none';
        return quarantine();
      }
      summary(v);
      grid(v);
      checks(v.failed_checks || []);
      return quarantine().then(function () { document.body.dataset.loaded = 'runs'; });
    }).catch(function (e) {
      showError('Could not read the runs: ' + e.message);
      $('#summary').textContent = '';
      document.body.dataset.loaded = 'error';
    });
  }
  start();
})();
