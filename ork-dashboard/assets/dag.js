// Draws a workflow as a layered DAG in SVG: no library, no build step. A
// map node is one group box with its item counts, however many items it has.
//
// Layers: a node sits one column right of its deepest dependency. Within a
// column, nodes are ordered by the mean position of their neighbours (a few
// barycenter sweeps, down then up) to keep edges short and uncrossed.
(function () {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 168, H = 44, GX = 64, GY = 18, PAD = 16;

  function layout(nodes) {
    const n = nodes.length;
    const layer = new Array(n).fill(0);
    // Deps point to earlier nodes; repeat in case an order is unusual.
    for (let pass = 0; pass < n; pass++) {
      let changed = false;
      for (const node of nodes) {
        for (const d of node.deps) {
          if (d >= 0 && d < n && d !== node.index && layer[node.index] < layer[d] + 1) {
            layer[node.index] = layer[d] + 1;
            changed = true;
          }
        }
      }
      if (!changed) break;
    }
    const layers = [];
    const children = nodes.map(() => []);
    for (const node of nodes) {
      (layers[layer[node.index]] = layers[layer[node.index]] || []).push(node.index);
      for (const d of node.deps) if (d >= 0 && d < n) children[d].push(node.index);
    }
    const pos = new Array(n).fill(0);
    layers.forEach(l => l.forEach((i, k) => { pos[i] = k; }));
    for (let sweep = 0; sweep < 4; sweep++) {
      const down = sweep % 2 === 0;
      const order = down ? layers.slice(1) : layers.slice(0, -1).reverse();
      for (const l of order) {
        const key = i => {
          const nb = (down ? nodes[i].deps : children[i]).filter(j => j >= 0 && j < n);
          return nb.length ? nb.reduce((a, j) => a + pos[j], 0) / nb.length : pos[i];
        };
        const keys = new Map(l.map(i => [i, key(i)]));
        l.sort((a, b) => keys.get(a) - keys.get(b) || a - b);
        l.forEach((i, k) => { pos[i] = k; });
      }
    }
    const tallest = Math.max(1, ...layers.map(l => l.length));
    const xy = nodes.map(node => {
      const l = layer[node.index];
      const offset = (tallest - layers[l].length) * (H + GY) / 2;
      return { x: PAD + l * (W + GX), y: PAD + offset + pos[node.index] * (H + GY) };
    });
    return {
      xy,
      layer,
      width: PAD * 2 + layers.length * W + (layers.length - 1) * GX,
      height: PAD * 2 + tallest * H + (tallest - 1) * GY,
    };
  }

  // The height at which an edge from `from` to `to` crosses the layers
  // between them without running under a node: the source's or target's
  // height if free, else just above or below those layers' nodes (the one
  // nearest). `null` for an edge between adjacent layers.
  function lane(nodes, g, from, to) {
    const la = g.layer[from], lb = g.layer[to];
    if (lb - la <= 1) return null;
    const mids = nodes.filter(n => g.layer[n.index] > la && g.layer[n.index] < lb).map(n => g.xy[n.index].y);
    const free = y => mids.every(top => y < top - 4 || y > top + H + 4);
    const y1 = g.xy[from].y + H / 2, y2 = g.xy[to].y + H / 2;
    const want = (y1 + y2) / 2;
    const candidates = [y1, y2, Math.min(...mids) - GY / 2, Math.max(...mids) + H + GY / 2].filter(free);
    candidates.sort((p, q) => Math.abs(p - want) - Math.abs(q - want));
    return candidates[0];
  }

  function make(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (parent) parent.appendChild(e);
    return e;
  }

  function shortTask(task) {
    const last = task.split('::').pop();
    return last.length > 20 ? last.slice(0, 19) + '…' : last;
  }

  function subtitle(node) {
    if (node.waits_on) return 'waits for ' + node.waits_on;
    if (node.parked) return node.parked;
    if (node.state === 'running') {
      return node.progress > 0 ? 'running ' + node.progress + '%' : 'running';
    }
    if (node.started_at_ms && node.finished_at_ms) {
      return node.state + ' · ' + window.OrkFormat.duration(node.finished_at_ms - node.started_at_ms);
    }
    if (node.attempts > 1) return node.state + ' · attempt ' + node.attempts;
    return node.state;
  }

  // Item states in the order a person reads them: what moves first.
  const ITEM_ORDER = ['running', 'queued', 'scheduled', 'waiting', 'succeeded', 'dead', 'cancelled', 'expired'];
  const ITEM_SHORT = {
    running: 'run', queued: 'queued', scheduled: 'sched', waiting: 'wait',
    succeeded: 'ok', dead: 'dead', cancelled: 'cancel', expired: 'gone',
  };

  function itemStates(items) {
    const rank = s => { const i = ITEM_ORDER.indexOf(s); return i < 0 ? ITEM_ORDER.length : i; };
    return Object.keys(items.states).sort((a, b) => rank(a) - rank(b));
  }

  // A map's item counts: `992 queued · 8 running`, shortened to fit.
  function itemCounts(items) {
    const states = itemStates(items);
    if (!states.length) return 'no items yet';
    const long = states.map(s => items.states[s] + ' ' + s).join(' · ');
    return long.length <= 30 ? long : states.map(s => items.states[s] + ' ' + (ITEM_SHORT[s] || s)).join(' · ');
  }

  // A map node: one box for all its items, drawn as a stack, with the
  // count, the item task, per-state counts and a bar split by state.
  function drawGroup(grp, node) {
    const items = node.items;
    grp.setAttribute('data-items', items.total);
    grp.setAttribute('data-item-states', itemStates(items).map(s => s + ':' + items.states[s]).join(','));
    make('rect', { class: 'stack', x: 6, y: -6, width: W, height: H, rx: 6 }, grp);
    make('rect', { class: 'stack', x: 3, y: -3, width: W, height: H, rx: 6 }, grp);
    make('rect', { class: 'box', width: W, height: H, rx: 6 }, grp);
    let x = 2;
    for (const s of itemStates(items)) {
      const w = items.total ? (W - 4) * items.states[s] / items.total : 0;
      make('rect', { class: 'seg seg-' + s, x: x, y: H - 6, width: w, height: 4 }, grp);
      x += w;
    }
    const t = make('text', { x: 10, y: 18 }, grp);
    t.textContent = '#' + node.index + ' map ×' + items.total + ' ' + shortTask(items.task);
    const c = make('text', { class: 'sub counts', x: 10, y: 34 }, grp);
    c.textContent = itemCounts(items);
  }

  // Draws `view` (a workflow from /api/workflows/{id}) into `svg`.
  function render(svg, view, opts) {
    const options = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const nodes = view.nodes;
    const g = layout(nodes);
    svg.setAttribute('width', g.width);
    svg.setAttribute('height', g.height);
    svg.setAttribute('viewBox', '0 0 ' + g.width + ' ' + g.height);
    svg.setAttribute('data-workflow', view.id);
    svg.setAttribute('data-state', view.state);
    const defs = make('defs', {}, svg);
    const marker = make('marker', {
      id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse',
    }, defs);
    make('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#94a3b8' }, marker);
    const edges = make('g', { class: 'edges' }, svg);
    for (const node of nodes) {
      for (const d of node.deps) {
        if (d < 0 || d >= nodes.length) continue;
        const a = g.xy[d], b = g.xy[node.index];
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2, y2 = b.y + H / 2;
        const ly = lane(nodes, g, d, node.index);
        let path;
        if (ly == null) {
          const mx = (x1 + x2) / 2;
          path = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
        } else {
          // Across layers in between: along a free lane, not under their nodes.
          const h = GX / 2, xa = x1 + GX, xb = b.x - GX;
          path = `M${x1},${y1} C${x1 + h},${y1} ${x1 + h},${ly} ${xa},${ly} L${xb},${ly} ` +
            `C${xb + h},${ly} ${xb + h},${y2} ${x2},${y2}`;
        }
        make('path', {
          class: 'edge' + (nodes[d].state === 'succeeded' ? ' done' : ''),
          d: path,
          'marker-end': 'url(#arrow)',
          'data-from': d, 'data-to': node.index,
        }, edges);
      }
    }
    const layer = make('g', { class: 'nodes' }, svg);
    for (const node of nodes) {
      const p = g.xy[node.index];
      const cls = 'node state-' + node.state + (options.selected === node.index ? ' selected' : '');
      const grp = make('g', {
        class: cls, transform: `translate(${p.x},${p.y})`,
        'data-index': node.index, 'data-state': node.state, 'data-id': node.id,
      }, layer);
      const what = node.items
        ? 'map of ' + node.items.total + ' × ' + node.items.task + ' (' +
          itemStates(node.items).map(s => node.items.states[s] + ' ' + s).join(', ') + '); click for the items'
        : node.task;
      make('title', {}, grp).textContent =
        '#' + node.index + ' ' + what + ' — ' + node.state + (node.error ? '\n' + node.error : '') +
        (node.waits_on ? '\nwaits for signal `' + node.waits_on + '` until ' + window.OrkFormat.utc(node.due_at_ms) : '') +
        (node.parked && !node.waits_on ? '\n' + node.parked + ' until ' + window.OrkFormat.utc(node.due_at_ms) : '');
      if (node.items) {
        grp.classList.add('group');
        drawGroup(grp, node);
        if (options.onSelect) grp.addEventListener('click', () => options.onSelect(node));
        continue;
      }
      make('rect', { class: 'box', width: W, height: H, rx: 6 }, grp);
      if (node.state === 'running' && node.progress > 0) {
        make('rect', { class: 'bar', x: 2, y: H - 6, width: (W - 4) * node.progress / 100, height: 4 }, grp);
      }
      const t = make('text', { x: 10, y: 18 }, grp);
      t.textContent = '#' + node.index + ' ' + shortTask(node.task);
      const s = make('text', { class: 'sub', x: 10, y: 34 }, grp);
      s.textContent = subtitle(node);
      if (options.onSelect) grp.addEventListener('click', () => options.onSelect(node));
    }
  }

  window.OrkDag = { layout: layout, render: render };
})();
