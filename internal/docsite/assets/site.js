// nexus docs: the search over tables and columns (index in search-index.js)
// and the lineage graph's highlight. No library, nothing from outside.
(function () {
  'use strict';
  var box = document.getElementById('search');
  var out = document.getElementById('search-results');
  var sel = -1;

  function score(e, q) {
    var n = e.n.toLowerCase();
    var last = n.slice(n.lastIndexOf('.') + 1);
    if (n === q || last === q) return 0;
    if (last.indexOf(q) === 0) return 1;
    if (n.indexOf(q) >= 0) return 2;
    if (e.d && e.d.toLowerCase().indexOf(q) >= 0) return 3;
    return -1;
  }

  function render() {
    var q = box.value.trim().toLowerCase();
    out.textContent = '';
    sel = -1;
    if (!q) { out.hidden = true; document.body.removeAttribute('data-search'); return; }
    var hits = [];
    (window.NEXUS_SEARCH || []).forEach(function (e) {
      var s = score(e, q);
      if (s >= 0) hits.push({ s: s, e: e });
    });
    hits.sort(function (a, b) { return a.s - b.s || (a.e.k === b.e.k ? 0 : a.e.k === 'table' ? -1 : 1) || (a.e.n < b.e.n ? -1 : a.e.n > b.e.n ? 1 : 0); });
    hits.slice(0, 40).forEach(function (h) {
      var li = document.createElement('li');
      var a = document.createElement('a');
      a.href = h.e.u;
      a.dataset.kind = h.e.k;
      a.dataset.name = h.e.n;
      var k = document.createElement('span');
      k.className = 'kind';
      k.textContent = h.e.k;
      a.appendChild(k);
      a.appendChild(document.createTextNode(h.e.n + (h.e.t ? ' · ' + h.e.t : '')));
      if (h.e.d) {
        var d = document.createElement('span');
        d.className = 'd';
        d.textContent = h.e.d;
        a.appendChild(d);
      }
      li.appendChild(a);
      out.appendChild(li);
    });
    if (!hits.length) {
      var none = document.createElement('li');
      none.className = 'none';
      none.textContent = 'No table or column matches “' + box.value.trim() + '”.';
      out.appendChild(none);
    }
    out.hidden = false;
    document.body.setAttribute('data-search', String(hits.length));
  }

  function move(d) {
    var links = out.querySelectorAll('a');
    if (!links.length) return;
    if (sel >= 0) links[sel].classList.remove('sel');
    sel = (sel + d + links.length) % links.length;
    links[sel].classList.add('sel');
    links[sel].scrollIntoView({ block: 'nearest' });
  }

  if (box && out) {
    box.addEventListener('input', render);
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'ArrowDown') { move(1); ev.preventDefault(); }
      else if (ev.key === 'ArrowUp') { move(-1); ev.preventDefault(); }
      else if (ev.key === 'Enter') {
        var links = out.querySelectorAll('a');
        if (links.length) { location.href = links[Math.max(sel, 0)].href; }
        ev.preventDefault();
      } else if (ev.key === 'Escape') { box.value = ''; render(); }
    });
    document.addEventListener('click', function (ev) {
      if (!out.contains(ev.target) && ev.target !== box) out.hidden = true;
    });
    box.addEventListener('focus', function () { if (box.value.trim()) render(); });
  }

  // Lineage: pointing at a table highlights its edges and neighbours.
  document.querySelectorAll('svg.lineage').forEach(function (svg) {
    svg.querySelectorAll('[data-node]').forEach(function (n) {
      var name = n.getAttribute('data-node');
      n.addEventListener('mouseenter', function () {
        svg.querySelectorAll('.edge').forEach(function (e) {
          var f = e.getAttribute('data-from'), t = e.getAttribute('data-to');
          if (f === name || t === name) {
            e.classList.add('hot');
            var other = svg.querySelector('[data-node="' + (f === name ? t : f) + '"]');
            if (other) other.classList.add('hot');
          }
        });
      });
      n.addEventListener('mouseleave', function () {
        svg.querySelectorAll('.hot').forEach(function (e) { e.classList.remove('hot'); });
      });
    });
  });
  document.body.setAttribute('data-ready', '1');
})();
