// The ork dashboard: polls the JSON API and redraws. No framework, no build.
(function () {
  'use strict';

  const $ = sel => document.querySelector(sel);
  const ui = {
    allow: false,
    workflow: null,        // selected workflow id
    node: null,            // selected node index
    history: new Map(),    // queue -> recent done rates, for sparklines
    queuesKnown: '',
    now: Date.now(),
  };

  // ---- formatting ------------------------------------------------------
  const F = {
    duration(ms) {
      if (ms == null) return '-';
      if (ms < 1000) return ms + 'ms';
      if (ms < 60000) return (ms / 1000).toFixed(2) + 's';
      if (ms < 3600000) return Math.floor(ms / 60000) + 'm' + String(Math.floor(ms % 60000 / 1000)).padStart(2, '0') + 's';
      return Math.floor(ms / 3600000) + 'h' + String(Math.floor(ms % 3600000 / 60000)).padStart(2, '0') + 'm';
    },
    span(ms) {
      if (ms < 1000) return ms + 'ms';
      if (ms < 60000) return Math.floor(ms / 1000) + 's';
      if (ms < 3600000) return Math.floor(ms / 60000) + 'm';
      if (ms < 86400000) return Math.floor(ms / 3600000) + 'h';
      return Math.floor(ms / 86400000) + 'd';
    },
    ago(t) {
      if (!t) return '-';
      return t > ui.now ? 'in ' + F.span(t - ui.now) : F.span(ui.now - t) + ' ago';
    },
    rate(perSec) {
      if (!perSec) return '-';
      return perSec >= 1 ? perSec.toFixed(1) + '/s' : (perSec * 60).toFixed(1) + '/min';
    },
    utc(t) { return t ? new Date(t).toISOString().replace('T', ' ') : '-'; },
  };
  window.OrkFormat = F;

  // ---- DOM helpers -----------------------------------------------------
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k.startsWith('data-') || k === 'title' || k === 'colspan') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c == null) continue;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  const td = (text, cls) => el('td', { class: cls, text: text == null ? '' : String(text) });
  const badge = s => el('span', { class: 'state s-' + s, text: s });
  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'muted', colspan: cols, text: empty }))]));
  }

  function banner(msg) {
    const b = $('#banner');
    if (msg) { b.textContent = msg; b.hidden = false; } else { b.hidden = true; }
  }

  // Every URL is relative to the page's <base> (the mount point with its
  // slash), so the dashboard works under any prefix. In-page links name
  // the page's own path, which the base would otherwise replace.
  async function api(path, opts) {
    const r = await fetch(path, opts);
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) throw new Error((body && body.error) || (r.status + ' ' + r.statusText));
    return body;
  }

  async function act(kind, id, action, confirmText) {
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      await api('api/' + kind + '/' + encodeURIComponent(id) + '/' + action, {
        method: 'POST', headers: { 'X-Ork-Action': '1' },
      });
      banner(null);
    } catch (e) {
      banner(action + ' ' + id + ': ' + e.message);
    }
    refreshAll();
  }

  // Sends a signal (a JSON value asked for) to the jobs waiting on `key`.
  async function sendSignal(key) {
    const text = window.prompt('Signal `' + key + '`: a JSON value', 'true');
    if (text === null) return;
    try {
      await api('api/signals/' + encodeURIComponent(key), {
        method: 'POST', headers: { 'X-Ork-Action': '1', 'Content-Type': 'application/json' }, body: text,
      });
      banner(null);
    } catch (e) {
      banner('signal ' + key + ': ' + e.message);
    }
    refreshAll();
  }

  function actionButton(kind, id, action, label, confirmText) {
    if (!ui.allow) return null;
    return el('button', {
      class: action === 'cancel' || action === 'purge' ? 'danger' : '',
      'data-action': action, 'data-kind': kind, 'data-id': id, text: label,
      onclick: ev => { ev.stopPropagation(); act(kind, id, action, confirmText); },
    });
  }

  // ---- overview: queues and workers -----------------------------------
  function sparkline(values) {
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', '90');
    svg.setAttribute('height', '18');
    const max = Math.max(0.0001, ...values);
    const pts = values.map((v, i) => (i * 90 / Math.max(1, values.length - 1)).toFixed(1) + ',' + (17 - v / max * 16).toFixed(1));
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.appendChild(line);
    return svg;
  }

  async function refreshOverview() {
    const o = await api('api/overview');
    ui.now = o.now_ms;
    ui.allow = o.allow_actions;
    $('#title').textContent = o.title;
    document.title = o.title + ' · ork dashboard';
    $('#where').textContent = o.actor ? 'signed in as ' + o.actor : '';
    $('#memory').replaceChildren(...memoryNodes(o.memory));
    const mode = $('#mode');
    mode.textContent = o.allow_actions ? 'actions allowed' : 'read-only';
    mode.className = 'badge' + (o.allow_actions ? ' actions' : '');
    $('#window').textContent = 'rates over the last ' + Math.round(o.window_ms / 1000) + ' s';
    const paused = o.paused || [];
    const pausedQueues = new Set(paused.filter(p => p.kind === 'queue').map(p => p.name));
    const rows = o.queues.map(q => {
      const c = q.counts, r = q.recent;
      const isPaused = pausedQueues.has(c.queue);
      const h = ui.history.get(c.queue) || [];
      h.push(r.succeeded_per_sec);
      if (h.length > 40) h.shift();
      ui.history.set(c.queue, h);
      const run = r.run ? F.duration(r.run.p50_ms) + ' / ' + F.duration(r.run.p95_ms) : '-';
      const name = isPaused
        ? el('td', {}, c.queue + ' ', el('span', { class: 'badge paused', text: 'paused' }))
        : td(c.queue);
      return el('tr', { 'data-queue': c.queue, 'data-paused': isPaused ? '1' : '0' },
        name, td(c.waiting, 'n'), td(c.scheduled, 'n'), td(c.queued, 'n'), td(c.running, 'n'),
        td(c.succeeded, 'n'), td(c.dead, 'n'), td(c.cancelled, 'n'),
        td(F.rate(r.succeeded_per_sec), 'n'), td(F.rate(r.dead_per_sec), 'n'),
        td(r.wait ? F.duration(r.wait.p50_ms) : '-', 'n'), td(run, 'n'),
        el('td', {}, sparkline(h)),
        el('td', {}, isPaused
          ? actionButton('queues', c.queue, 'resume', 'Resume')
          : actionButton('queues', c.queue, 'pause', 'Pause'),
        c.waiting + c.scheduled + c.queued > 0
          ? actionButton('queues', c.queue, 'purge', 'Purge', 'Delete every job of queue ' + c.queue + ' that has not started?')
          : null));
    });
    const caps = o.running_caps || [];
    $('#running-caps').replaceChildren(...(caps.length ? ['Running caps: '] : []),
      ...caps.map(c => el('span', { class: 'cap' + (c.running >= c.cap ? ' full' : ''), 'data-cap': c.name },
        c.name + ' ' + c.running + '/' + c.cap + (c.held ? ' (' + c.held + ' held)' : '') + '  ')));
    const tasks = paused.filter(p => p.kind === 'task');
    $('#paused-tasks').replaceChildren(...(tasks.length ? ['Paused tasks: '] : []),
      ...tasks.map(p => el('span', { class: 'paused-task', 'data-task': p.name },
        el('span', { class: 'mono', text: p.name }), ' (' + p.held + ' held) ',
        actionButton('tasks', p.name, 'resume', 'Resume'))));
    fill($('#queues tbody'), rows, 'No queues in this namespace yet.', 14);
    const names = o.queues.map(q => q.counts.queue).join('\u0000');
    if (names !== ui.queuesKnown) {
      ui.queuesKnown = names;
      const sel = $('#jobs-queue');
      const keep = sel.value;
      sel.replaceChildren(el('option', { value: '', text: 'every queue' }),
        ...o.queues.map(q => el('option', { value: q.counts.queue, text: q.counts.queue })));
      sel.value = keep;
    }
    const busy = o.workers.reduce((a, w) => a + w.running, 0);
    const slots = o.workers.reduce((a, w) => a + w.concurrency, 0);
    $('#workers-count').textContent = o.workers.length + ' live, ' + busy + ' of ' + slots + ' slots busy';
    fill($('#workers tbody'), o.workers.map(w => el('tr', { 'data-worker': w.id },
      el('td', { class: 'mono', title: w.host + ' pid ' + w.pid + (w.instance ? ' instance ' + w.instance : ''), text: w.id }),
      td(w.queues.join(', ')), td(w.running + '/' + w.concurrency, 'n'), td(w.processed, 'n'),
      td(F.ago(w.last_seen_ms)))), 'No live workers.', 5);
    $('#updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
  }

  // The storage server's memory: used of max, and how full.
  function memoryNodes(m) {
    if (!m) return [];
    if (m.error) return [el('span', { class: 'err', text: 'Redis memory unknown: ' + m.error })];
    if (m.max_bytes == null) return ['Redis memory ' + bytes(m.used_bytes) + ' (no maxmemory)'];
    const pct = m.percent == null ? 0 : m.percent;
    return [el('span', {
      class: pct >= 90 ? 'err' : '', 'data-percent': String(pct),
      text: 'Redis memory ' + bytes(m.used_bytes) + ' of ' + bytes(m.max_bytes) + ' (' + pct.toFixed(1) + '%)',
    })];
  }

  // ---- audit trail ------------------------------------------------------
  async function refreshAudit() {
    const list = await api('api/audit?limit=50');
    fill($('#audit tbody'), list.map(a => el('tr', { 'data-action': a.action },
      td(F.ago(a.at_ms)), el('td', { class: 'actor', text: a.actor }), td(a.action),
      el('td', { class: 'mono', text: a.target }), td(a.outcome))),
    'No actions taken from the dashboard yet.', 5);
  }

  // ---- jobs and dead letters -------------------------------------------
  function jobInfo(j) {
    if (j.state === 'running') return j.progress + '%';
    if (j.state === 'scheduled' && j.parked && j.due_at_ms) return j.parked + ', until ' + F.ago(j.due_at_ms);
    if (j.state === 'scheduled' && j.due_at_ms) return 'due ' + F.ago(j.due_at_ms);
    if (j.state === 'waiting') return j.deps.length + ' deps';
    return j.error || '';
  }

  async function refreshDead() {
    const jobs = await api('api/jobs?state=dead&limit=100');
    $('#dead-count').textContent = jobs.length ? String(jobs.length) + (jobs.length === 100 ? '+' : '') : '';
    fill($('#dead tbody'), jobs.map(j => el('tr', { class: 'clickable', 'data-id': j.id, onclick: () => showJob(j.id) },
      el('td', { class: 'mono', text: j.id }), td(j.task), td(j.queue), td(j.attempts + '/' + j.max_attempts, 'n'),
      el('td', { class: 'err', text: j.error || '' }), td(F.ago(j.finished_at_ms)),
      el('td', {}, actionButton('jobs', j.id, 'retry', 'Retry')))), 'No dead letters.', 7);
  }

  async function refreshJobs() {
    const q = new URLSearchParams({ queue: $('#jobs-queue').value, state: $('#jobs-state').value, limit: '100' });
    const jobs = await api('api/jobs?' + q);
    fill($('#jobs tbody'), jobs.map(j => {
      const finished = ['succeeded', 'dead', 'cancelled'].includes(j.state);
      const button = finished
        ? (j.state === 'succeeded' ? null : actionButton('jobs', j.id, 'retry', 'Retry'))
        : actionButton('jobs', j.id, 'cancel', 'Cancel', 'Cancel job ' + j.id + '?');
      return el('tr', { class: 'clickable', 'data-id': j.id, onclick: () => showJob(j.id) },
        el('td', { class: 'mono', text: j.id }), td(j.task), td(j.queue), el('td', {}, badge(j.state)),
        td(j.attempts + '/' + j.max_attempts, 'n'), td(F.ago(j.enqueued_at_ms)),
        el('td', { class: j.error && finished ? 'err' : '', text: jobInfo(j) }), el('td', {}, button));
    }), 'No jobs here.', 8);
  }

  // ---- job detail -------------------------------------------------------
  function valueText(v) {
    if (!v) return '?';
    if (v.kind === 'json') return JSON.stringify(v.value);
    if (v.kind === 'bytes') return v.bytes + ' byte(s) of ' + v.codec + ': ' + v.hex + (v.truncated ? '…' : '');
    return JSON.stringify(v);
  }

  function payloadNode(p) {
    if (!p) return el('div', { class: 'muted', text: 'none' });
    if (p.kind === 'json') return el('pre', { text: JSON.stringify(p.value, null, 2) });
    if (p.kind === 'bytes') {
      const hex = (p.hex.match(/.{1,32}/g) || []).map(l => l.replace(/(..)/g, '$1 ').trim()).join('\n');
      return el('div', {}, el('div', { class: 'muted small', text: p.bytes + (p.bytes === 1 ? ' byte' : ' bytes') + ' of ' + p.codec + ': ' + p.note }),
        el('pre', { text: hex + (p.truncated ? '\n…' : '') }));
    }
    if (p.kind === 'inputs') {
      return el('pre', {
        text: p.inputs.map((i, k) => '#' + k + '  ' + (
          i.output_of ? 'output of ' + i.output_of
            : i.output_or_error_of ? 'output (or error) of ' + i.output_or_error_of
              : i.outputs_of ? 'outputs of ' + i.outputs_of.join(', ')
                : i.item ? 'an item of the mapped list'
                  : valueText(i.value))).join('\n'),
      });
    }
    return el('pre', { text: JSON.stringify(p, null, 2) });
  }

  async function showJob(id) {
    let j;
    try { j = await api('api/jobs/' + encodeURIComponent(id)); } catch (e) { banner(e.message); return; }
    const row = (k, v) => [el('dt', { text: k }), el('dd', {}, v)];
    const finished = ['succeeded', 'dead', 'cancelled'].includes(j.state);
    const signal = j.waits_on && ui.allow ? el('button', {
      'data-action': 'signal', 'data-id': j.id, text: 'Send signal',
      onclick: ev => { ev.stopPropagation(); sendSignal(j.waits_on); },
    }) : null;
    const buttons = el('div', {},
      finished ? (j.state === 'succeeded' ? null : actionButton('jobs', j.id, 'retry', 'Retry'))
        : actionButton('jobs', j.id, 'cancel', 'Cancel', 'Cancel job ' + j.id + '?'), signal);
    const dl = el('dl', {},
      ...row('state', el('span', {}, badge(j.state), ' attempts ' + j.attempts + '/' + j.max_attempts + (j.state === 'running' ? ' · ' + j.progress + '%' : ''))),
      ...row('queue', j.queue + ' (priority ' + j.priority + ')'),
      ...(j.error ? row('error', el('span', { class: 'err', text: j.error })) : []),
      ...row('enqueued', F.utc(j.enqueued_at_ms) + ' (' + F.ago(j.enqueued_at_ms) + ')'),
      ...(j.waits_on ? row('waits for', el('span', { 'data-waits-on': j.waits_on, text: 'signal `' + j.waits_on + '`, timeout ' + F.utc(j.due_at_ms) })) : []),
      ...(j.parked && !j.waits_on ? row('parked', j.parked) : []),
      ...(j.due_at_ms ? row('due', F.utc(j.due_at_ms)) : []),
      ...(j.started_at_ms ? row('started', F.utc(j.started_at_ms) + ', waited ' + F.duration(j.started_at_ms - j.enqueued_at_ms)) : []),
      ...(j.finished_at_ms ? row('finished', F.utc(j.finished_at_ms) + (j.started_at_ms ? ', ran ' + F.duration(j.finished_at_ms - j.started_at_ms) : '')) : []),
      ...(j.workflow ? row('workflow', el('a', { href: window.location.pathname + window.location.search + '#workflow=' + j.workflow, text: j.workflow })) : []),
      ...(j.parent ? row('parent', j.parent) : []),
      ...(j.deps.length ? row('after', j.deps.join(', ')) : []),
      ...(j.unique ? row('unique', j.unique) : []),
      ...row('codec', j.codec));
    const kids = j.children || [];
    const children = kids.length ? [
      el('h3', { text: 'Run-time children (' + j.children_total + ')' }),
      el('table', { class: 'children' }, el('tbody', {}, ...kids.map(c => el('tr', {
        class: 'clickable', 'data-child': c.id, onclick: () => showJob(c.id),
      }, el('td', { class: 'mono', text: c.id }), td(c.task), el('td', {}, badge(c.state))))))] : [];
    $('#detail-body').replaceChildren(
      el('h2', {}, el('span', { text: j.task })), el('div', { class: 'mono muted', text: j.id }), buttons, dl,
      ...children,
      el('h3', { text: 'Arguments' }), payloadNode(j.args),
      el('h3', { text: 'Result' }), payloadNode(j.result));
    $('#detail').hidden = false;
  }

  // ---- workflows --------------------------------------------------------
  async function refreshWorkflows() {
    const flows = await api('api/workflows?limit=50');
    if (!ui.workflow && flows.length) {
      const running = flows.find(f => f.state === 'running');
      select((running || flows[0]).id, false);
    }
    fill($('#workflows tbody'), flows.map(f => el('tr', {
      class: 'clickable' + (f.id === ui.workflow ? ' selected' : ''), 'data-id': f.id,
      onclick: () => select(f.id, true),
    }, el('td', {}, el('div', { text: f.name }), el('div', { class: 'mono muted', text: f.id })),
    el('td', {}, badge(f.state)), td(f.done + '/' + f.nodes, 'n'), td(F.ago(f.created_at_ms)))),
    'No workflows yet.', 4);
  }

  function select(id, pushHash) {
    ui.workflow = id;
    ui.node = null;
    if (pushHash) window.location.hash = 'workflow=' + id;
    for (const tr of document.querySelectorAll('#workflows tbody tr')) {
      tr.classList.toggle('selected', tr.getAttribute('data-id') === id);
    }
    refreshWorkflow().catch(e => banner(e.message));
  }

  async function refreshWorkflow() {
    if (!ui.workflow) return;
    const id = ui.workflow;
    let w;
    try {
      w = await api('api/workflows/' + encodeURIComponent(id));
    } catch (e) {
      $('#workflow-head').textContent = e.message;
      $('#dag').replaceChildren();
      return;
    }
    if (id !== ui.workflow) return;
    const counts = {};
    for (const n of w.nodes) counts[n.state] = (counts[n.state] || 0) + 1;
    const head = [
      el('strong', { text: w.name }), ' ', badge(w.state), ' ',
      el('span', { class: 'mono muted', text: w.id }), ' ',
      w.state === 'running' ? actionButton('workflows', w.id, 'cancel', 'Cancel workflow', 'Cancel workflow ' + w.id + '?') : null,
      w.state === 'failed' || w.state === 'cancelled' ? actionButton('workflows', w.id, 'retry', 'Retry failed nodes') : null,
    ];
    $('#workflow-head').replaceChildren(...head.filter(x => x != null));
    window.OrkDag.render($('#dag'), w, {
      selected: ui.node,
      onSelect: node => { ui.node = node.index; showJob(node.id); refreshWorkflow(); },
    });
    $('#legend').replaceChildren(...Object.entries(counts).map(([s, n]) => el('span', {}, badge(s), ' ' + n)));
  }

  // ---- schedules --------------------------------------------------------
  async function refreshSchedules() {
    const list = await api('api/schedules');
    fill($('#schedules tbody'), list.map(x => el('tr', { 'data-name': x.name },
      el('td', { text: x.name, title: x.task + ' on ' + x.queue + ' · missed ticks: ' + x.missed }),
      td(x.when),
      x.paused ? el('td', {}, badge('paused')) : td(x.next_at_ms ? F.ago(x.next_at_ms) : '-'),
      x.last_run
        ? el('td', {}, F.ago(x.last_run.tick_ms) + ' ', badge(x.last_run.state))
        : td('never'),
      el('td', {}, x.paused
        ? actionButton('schedules', x.name, 'resume', 'Resume')
        : actionButton('schedules', x.name, 'pause', 'Pause')))),
    'No schedules.', 5);
  }

  // ---- polling ----------------------------------------------------------
  let failures = 0;
  async function refreshAll() {
    try {
      await refreshOverview();
      await Promise.all([refreshDead(), refreshJobs(), refreshWorkflows(), refreshWorkflow(), refreshSchedules(), refreshAudit()]);
      if (failures) banner(null);
      failures = 0;
    } catch (e) {
      failures += 1;
      banner('cannot refresh: ' + e.message);
    }
  }

  function loop(fn, ms) {
    const tick = async () => {
      try { await fn(); } catch (e) { banner(e.message); }
      setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
  }

  function fromHash() {
    const m = /workflow=([^&]+)/.exec(window.location.hash);
    if (m) select(decodeURIComponent(m[1]), false);
  }

  $('#detail-close').addEventListener('click', () => { $('#detail').hidden = true; });
  document.addEventListener('keydown', e => { if (e.key === 'Escape') $('#detail').hidden = true; });
  $('#jobs-queue').addEventListener('change', () => refreshJobs().catch(e => banner(e.message)));
  $('#jobs-state').addEventListener('change', () => refreshJobs().catch(e => banner(e.message)));
  window.addEventListener('hashchange', fromHash);
  fromHash();
  refreshAll();
  loop(refreshAll, 2000);
  loop(refreshWorkflow, 1000);
})();
