// The Berth dashboard: a plain ES module (no build step) rendered with preact + htm, both served by
// the master under /ui/vendor/. The cluster view comes from /api/events (Operator.Watch as
// server-sent events: a snapshot, then deltas, plus `usage` with the roles' shares); apps and jobs
// come from the frameworks' APIs through /api/apps and /api/jobs, batch queues and jobs through
// /api/batch, polled every few seconds.
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);
const POLL_MS = 5000;
const KEEP_FINISHED_TASKS = 200;
const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

// ---- the bearer token, only when the master has authentication on --------------------------------

const TOKEN_KEY = 'berth-token';
const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';
const authHeaders = () => (token() === '' ? {} : { Authorization: `Bearer ${token()}` });
let tokenEntered = () => undefined;

// ---- the cluster as the event stream describes it ------------------------------------------------

/** The master's state: a SNAPSHOT replaces it, every later ClusterEvent changes one object. */
class ClusterStore {
  constructor() {
    this.reset();
    this.preemptions = []; // PREEMPTION events seen since the page opened, newest first (kept across snapshots)
  }

  reset() {
    this.ready = false;
    this.master = undefined;
    this.epoch = '';
    this.sequence = 0;
    this.agents = new Map();
    this.frameworks = new Map();
    this.tasks = new Map(); // "<framework>/<task>" → Task; finished ones are trimmed to the newest few
    this.roles = new Map();
  }

  /** Applies one ClusterEvent (Operator.Watch's message, JSON with the wire field names). */
  apply(e) {
    this.epoch = e.epoch;
    this.sequence = Number(e.sequence);
    switch (e.type) {
      case 'SNAPSHOT': {
        const s = e.snapshot.state;
        this.reset();
        this.epoch = e.epoch;
        this.sequence = Number(e.sequence);
        this.master = s.master_info;
        for (const a of s.agents ?? []) this.agents.set(a.agent_info.id.value, a);
        for (const f of s.frameworks ?? []) this.frameworks.set(f.framework_info.id.value, f);
        for (const t of [...(s.completed_tasks ?? []), ...(s.tasks ?? [])]) this.tasks.set(taskKey(t), t);
        for (const r of s.roles ?? []) this.roles.set(r.name, r);
        this.trimFinished();
        this.ready = true;
        break;
      }
      case 'AGENT_ADDED':
      case 'AGENT_UPDATED': {
        const a = (e.agent_added ?? e.agent_updated)?.agent;
        if (a) this.agents.set(a.agent_info.id.value, a);
        break;
      }
      case 'AGENT_REMOVED':
        this.agents.delete(e.agent_removed.agent_id.value);
        break;
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const f = (e.framework_added ?? e.framework_updated)?.framework;
        if (f) this.frameworks.set(f.framework_info.id.value, f);
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const id = e.framework_removed.framework_info.id.value;
        this.frameworks.delete(id);
        for (const [k, t] of this.tasks) if (t.framework_id.value === id && !TERMINAL.has(t.state)) this.tasks.delete(k);
        break;
      }
      case 'TASK_ADDED':
        this.tasks.set(taskKey(e.task_added.task), e.task_added.task);
        break;
      case 'TASK_UPDATED': {
        const u = e.task_updated;
        const k = `${u.framework_id.value}/${u.status.task_id.value}`;
        const t = this.tasks.get(k);
        if (t) {
          this.tasks.delete(k); // re-inserted last: the newest finished tasks are the ones kept
          this.tasks.set(k, { ...t, state: u.state, statuses: [u.status] });
        }
        this.trimFinished();
        break;
      }
      case 'ROLE_UPDATED': {
        const r = e.role_updated.role;
        this.roles.set(r.name, { ...this.roles.get(r.name), ...r });
        break;
      }
      case 'PREEMPTION':
        this.preemptions = [{ ...e.preemption, time: e.time }, ...this.preemptions].slice(0, 20);
        break;
      default: // HEARTBEAT
    }
  }

  /** Applies a `usage` event: every role's share and allocation, every agent's allocation. */
  usage(u) {
    this.roles = new Map(u.roles.map((r) => [r.name, r]));
    for (const a of u.agents) {
      const current = this.agents.get(a.id);
      if (current) this.agents.set(a.id, { ...current, allocated_resources: a.allocated_resources, offered_resources: a.offered_resources });
    }
  }

  trimFinished() {
    let finished = 0;
    for (const t of this.tasks.values()) if (TERMINAL.has(t.state)) finished++;
    for (const [k, t] of this.tasks) {
      if (finished <= KEEP_FINISHED_TASKS) break;
      if (TERMINAL.has(t.state)) {
        this.tasks.delete(k);
        finished--;
      }
    }
  }
}

const taskKey = (t) => `${t.framework_id.value}/${t.task_id.value}`;
const store = new ClusterStore();
const connection = { state: 'connecting', detail: '', leader: undefined };

// Re-rendering is batched: a burst of events renders once.
const listeners = new Set();
let renderQueued = false;
function changed() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    for (const l of listeners) l();
  }, 50);
}
function useStore() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const l = () => setVersion((v) => v + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return store;
}
function setConnection(state, detail = '', leader = undefined) {
  Object.assign(connection, { state, detail, leader });
  changed();
}

/** Yields the events of a text/event-stream body: { event, data, id }. */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let id;
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
        else if (field === 'id') id = text;
      }
      if (data.length > 0) yield { event, id, data: data.join('\n') };
    }
  }
}

/**
 * Follows /api/events for as long as the page is open. fetch rather than EventSource, so that a
 * bearer token can be sent; reconnects with Last-Event-ID, so the master replays what was missed
 * (or starts over with a snapshot).
 */
async function followEvents() {
  let lastId;
  let delay = 1000;
  for (;;) {
    try {
      const headers = { Accept: 'text/event-stream', ...authHeaders(), ...(lastId === undefined ? {} : { 'Last-Event-ID': lastId }) };
      const res = await fetch('/api/events', { headers, cache: 'no-store' });
      if (res.status === 401 || res.status === 403) {
        const body = await res.json().catch(() => ({}));
        setConnection('token', body.error ?? res.statusText);
        await new Promise((resolve) => (tokenEntered = resolve));
        continue;
      }
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        setConnection(res.status === 503 ? 'standby' : 'error', body.error ?? `${res.status} ${res.statusText}`, body.leader);
      } else {
        setConnection('live');
        delay = 1000;
        for await (const e of serverSentEvents(res.body)) {
          const data = JSON.parse(e.data);
          if (e.event === 'cluster') {
            lastId = e.id;
            store.apply(data);
          } else if (e.event === 'usage') {
            store.usage(data);
          } else if (e.event === 'error') {
            setConnection('reconnecting', data.error);
          }
          changed();
        }
        if (connection.state === 'live') setConnection('reconnecting', 'the event stream ended');
      }
    } catch (err) {
      setConnection('reconnecting', err.message);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

/** Fetches `url` as JSON every `ms` while mounted: { status, body } or { error }. */
function usePoll(url, ms) {
  const [result, setResult] = useState({ loading: true });
  useEffect(() => {
    let stopped = false;
    let timer;
    const tick = async () => {
      let again = true;
      try {
        const res = await fetch(url, { headers: authHeaders(), cache: 'no-store' });
        const body = await res.json();
        if (!stopped) setResult({ status: res.status, body });
        again = body.configured !== false; // the frameworks' address is configuration: it will not appear
      } catch (err) {
        if (!stopped) setResult({ error: err.message });
      }
      if (!stopped && again) timer = setTimeout(tick, ms);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [url, ms]);
  return result;
}

// ---- formatting -----------------------------------------------------------------------------

/** Scalar resources summed by name, reservations and all: { cpus: 4, mem: 4096, … }. */
function scalars(resources) {
  const out = {};
  for (const r of resources ?? []) if (r.scalar) out[r.name] = (out[r.name] ?? 0) + r.scalar.value;
  return out;
}
/** ResourceQuantity[] as { name: value }. */
function quantities(list) {
  const out = {};
  for (const q of list ?? []) out[q.name] = (out[q.name] ?? 0) + q.value;
  return out;
}
const round = (n, digits = 2) => String(Math.round(n * 10 ** digits) / 10 ** digits);
function amount(name, value) {
  if (value === undefined) return '–';
  if (name === 'mem' || name === 'disk') return value >= 1024 ? `${round(value / 1024, 1)} GiB` : `${round(value, 0)} MiB`;
  return round(value);
}
const percent = (share) => `${round((share ?? 0) * 100, 1)}%`;
function timeOf(t) {
  if (!t?.nanoseconds) return undefined;
  return new Date(Number(t.nanoseconds) / 1e6);
}
function ago(t) {
  const d = timeOf(t);
  if (d === undefined) return '–';
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const text = Math.abs(s) < 60 ? `${Math.abs(s)}s` : Math.abs(s) < 3600 ? `${Math.round(Math.abs(s) / 60)}m` : Math.abs(s) < 86400 ? `${round(Math.abs(s) / 3600, 1)}h` : `${round(Math.abs(s) / 86400, 1)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}
const stateClass = (state) => `badge state-${String(state ?? '').toLowerCase().replace(/^task_/, '').replace(/_/g, '-')}`;
const short = (id) => (id && id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);
function attributeText(a) {
  if (a.text) return `${a.name}:${a.text.value}`;
  if (a.scalar) return `${a.name}:${a.scalar.value}`;
  if (a.ranges) return `${a.name}:[${(a.ranges.range ?? []).map((r) => `${r.begin}-${r.end}`).join(',')}]`;
  if (a.set) return `${a.name}:{${(a.set.item ?? []).join(',')}}`;
  return a.name;
}

// ---- views ---------------------------------------------------------------------------------

function Header({ s }) {
  const c = connection;
  const label = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', standby: 'standby', error: 'error', token: 'token needed' }[c.state];
  return html`<header>
    <h1>Berth</h1>
    <span class="master">${s.master ? `master ${s.master.id} · ${s.master.version ?? ''}` : ''}</span>
    <nav>${['summary', 'roles', 'agents', 'frameworks', 'tasks', 'apps', 'jobs', 'batch'].map((id) => html`<a href="#${id}">${id}</a>`)}</nav>
    <span id="connection" class="conn conn-${c.state}" title=${c.detail}>${label}</span>
  </header>`;
}

function Notice() {
  const c = connection;
  if (c.state === 'token') return html`<${TokenForm} reason=${c.detail} />`;
  if (c.state === 'standby') {
    const http = c.leader?.httpAddress;
    return html`<div class="notice">${c.detail}${http ? html` — <a href="http://${http}/">open the leader's dashboard</a>` : ''}</div>`;
  }
  if (c.state === 'reconnecting' || c.state === 'error') return html`<div class="notice">${c.detail}; retrying…</div>`;
  return null;
}

function TokenForm({ reason }) {
  const submit = (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, new FormData(ev.target).get('token'));
    setConnection('connecting');
    tokenEntered();
  };
  return html`<form class="notice token" onSubmit=${submit}>
    <label>This master needs a bearer token (${reason}): <input type="password" name="token" autocomplete="off" /></label>
    <button type="submit">Use token</button>
  </form>`;
}

function Bar({ used, offered = 0, total }) {
  const pct = (v) => (total > 0 ? Math.min(100, (v / total) * 100) : 0);
  return html`<span class="bar"><span class="used" style="width:${pct(used)}%"></span><span class="offered" style="width:${pct(offered)}%"></span></span>`;
}

function Summary({ s }) {
  const live = [...s.agents.values()].filter((a) => a.lifecycle !== 'GONE' && a.lifecycle !== 'UNREACHABLE');
  const sum = (pick) => {
    const out = {};
    for (const a of live) for (const [n, v] of Object.entries(scalars(pick(a)))) out[n] = (out[n] ?? 0) + v;
    return out;
  };
  const total = sum((a) => a.total_resources);
  const allocated = sum((a) => a.allocated_resources);
  const offered = sum((a) => a.offered_resources);
  const tasks = [...s.tasks.values()];
  const running = tasks.filter((t) => t.state === 'TASK_RUNNING').length;
  const names = ['cpus', 'mem', 'disk', 'gpus'].filter((n) => total[n] !== undefined);
  return html`<section id="summary">
    <h2>Cluster</h2>
    <div class="cards">
      <div class="card"><b>${live.length}</b> agents<small>${s.agents.size - live.length} unreachable or gone</small></div>
      <div class="card"><b>${[...s.frameworks.values()].filter((f) => f.connected).length}</b> frameworks connected<small>of ${s.frameworks.size}</small></div>
      <div class="card"><b>${running}</b> tasks running<small>${tasks.filter((t) => !TERMINAL.has(t.state)).length} active</small></div>
    </div>
    <table class="resources">
      <thead><tr><th>resource</th><th>allocated</th><th>offered</th><th>total</th><th></th></tr></thead>
      <tbody>${names.map((n) => html`<tr data-resource=${n}>
        <td>${n}</td><td>${amount(n, allocated[n] ?? 0)}</td><td>${amount(n, offered[n] ?? 0)}</td><td>${amount(n, total[n])}</td>
        <td><${Bar} used=${allocated[n] ?? 0} offered=${offered[n] ?? 0} total=${total[n]} /></td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}

function Roles({ s }) {
  const roles = [...s.roles.values()].sort((a, b) => a.name.localeCompare(b.name));
  const max = Math.max(0.01, ...roles.map((r) => r.dominant_share ?? 0));
  const width = 240;
  const quota = (q) => {
    if (!q) return '–';
    const g = quantities(q.guarantees);
    const l = quantities(q.limits);
    const parts = [...Object.entries(g).map(([n, v]) => `${n} ≥ ${amount(n, v)}`), ...Object.entries(l).map(([n, v]) => `${n} ≤ ${amount(n, v)}`)];
    return parts.length === 0 ? '–' : parts.join(', ');
  };
  return html`<section id="roles">
    <h2>Roles</h2>
    ${roles.length === 0 ? html`<p class="empty">No roles yet: a role appears when a framework subscribes in it, or a weight or quota is set.</p>` : html`
    <table>
      <thead><tr><th>role</th><th>weight</th><th>dominant share</th><th></th><th>allocated</th><th>quota</th><th>frameworks</th></tr></thead>
      <tbody>${roles.map((r) => {
        const alloc = quantities(r.allocated);
        return html`<tr data-role=${r.name}>
          <td>${r.name}</td>
          <td class="weight">${round(r.weight ?? 1)}</td>
          <td class="share">${percent(r.dominant_share)}</td>
          <td><svg class="share-bar" width=${width} height="14" role="img" aria-label="dominant share ${percent(r.dominant_share)}">
            <rect class="track" x="0" y="2" width=${width} height="10" rx="2"></rect>
            <rect class="fill" x="0" y="2" width=${Math.round(((r.dominant_share ?? 0) / max) * width)} height="10" rx="2"></rect>
          </svg></td>
          <td>${['cpus', 'mem', 'disk', 'gpus'].filter((n) => alloc[n]).map((n) => `${n} ${amount(n, alloc[n])}`).join(', ') || '–'}</td>
          <td>${quota(r.quota)}</td>
          <td>${(r.frameworks ?? []).length}</td>
        </tr>`;
      })}</tbody>
    </table>
    <p class="hint">Dominant share = the largest fraction of any resource the role holds (offers included) ÷ its weight; DRF offers first to the role with the lowest. Bars are scaled to the largest share (${percent(max)}).</p>`}
  </section>`;
}

/** One line per preemption decision (Watch PREEMPTION events since the page opened). */
function Preemptions({ s }) {
  if (s.preemptions.length === 0) return '';
  const name = (id) => s.frameworks.get(id)?.framework_info?.name ?? id;
  return html`<section id="preemptions">
    <h2>Preemptions <small>${s.preemptions.length}</small></h2>
    <ul class="preemptions">${s.preemptions.map((p) => html`<li>
      <span class="when" title=${timeOf(p.time)}>${ago(p.time)}</span>
      gang <code>${p.gang_id}</code> of ${name(p.framework_id.value)} (role ${p.role}, ${p.priority_class} ${p.priority})
      took ${p.victims.length} task${p.victims.length === 1 ? '' : 's'} of ${[...new Set(p.victims.map((v) => name(v.framework_id.value)))].join(', ') || 'no framework'}
      on ${p.agents.length} agent${p.agents.length === 1 ? '' : 's'}, ${round(p.kill_grace_seconds)} s grace
    </li>`)}</ul>
  </section>`;
}

function agentStates(a) {
  const out = [];
  if (a.lifecycle === 'GONE') out.push('gone');
  else if (a.lifecycle === 'UNREACHABLE') out.push('unreachable');
  else out.push(a.connected ? 'active' : 'disconnected');
  if (a.drain_info) out.push(String(a.drain_info.state ?? 'draining').toLowerCase());
  if (a.deactivated) out.push('deactivated');
  return out;
}

function Agents({ s }) {
  const agents = [...s.agents.values()].sort((a, b) => a.agent_info.hostname.localeCompare(b.agent_info.hostname));
  return html`<section id="agents">
    <h2>Agents <small>${agents.length}</small></h2>
    ${agents.length === 0 ? html`<p class="empty">No agents registered.</p>` : html`
    <table>
      <thead><tr><th>hostname</th><th>id</th><th>state</th><th>cpus</th><th>mem</th><th>disk</th><th>attributes</th><th>domain</th><th>registered</th></tr></thead>
      <tbody>${agents.map((a) => {
        const total = scalars(a.total_resources);
        const used = scalars(a.allocated_resources);
        const offered = scalars(a.offered_resources);
        const domain = a.agent_info.domain?.fault_domain;
        const cell = (n) => html`<td>${amount(n, used[n] ?? 0)} / ${amount(n, total[n])}<${Bar} used=${used[n] ?? 0} offered=${offered[n] ?? 0} total=${total[n] ?? 0} /></td>`;
        return html`<tr data-agent-id=${a.agent_info.id.value}>
          <td class="hostname">${a.agent_info.hostname}</td>
          <td title=${a.agent_info.id.value}>${short(a.agent_info.id.value)}</td>
          <td>${agentStates(a).map((st) => html`<span class="badge agent-${st}">${st}</span> `)}</td>
          ${cell('cpus')}${cell('mem')}${cell('disk')}
          <td>${(a.agent_info.attributes ?? []).map(attributeText).join(' ') || '–'}</td>
          <td>${domain ? `${domain.region?.name ?? ''}/${domain.zone?.name ?? ''}` : '–'}</td>
          <td>${ago(a.reregistered_time ?? a.registered_time)}</td>
        </tr>`;
      })}</tbody>
    </table>`}
  </section>`;
}

function Frameworks({ s }) {
  const frameworks = [...s.frameworks.values()].sort((a, b) => a.framework_info.name.localeCompare(b.framework_info.name));
  // Counted from the tasks: framework events do not follow every task change.
  const counts = new Map();
  const allocated = new Map();
  for (const t of s.tasks.values()) {
    if (TERMINAL.has(t.state)) continue;
    const id = t.framework_id.value;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    const r = scalars(t.resources);
    const a = allocated.get(id) ?? {};
    for (const [n, v] of Object.entries(r)) a[n] = (a[n] ?? 0) + v;
    allocated.set(id, a);
  }
  return html`<section id="frameworks">
    <h2>Frameworks <small>${frameworks.length}</small></h2>
    ${frameworks.length === 0 ? html`<p class="empty">No frameworks subscribed.</p>` : html`
    <table>
      <thead><tr><th>name</th><th>id</th><th>roles</th><th>principal</th><th>state</th><th>active tasks</th><th>tasks use</th><th>registered</th></tr></thead>
      <tbody>${frameworks.map((f) => {
        const id = f.framework_info.id.value;
        const use = allocated.get(id) ?? {};
        return html`<tr data-framework-id=${id}>
          <td>${f.framework_info.name}</td>
          <td title=${id}>${short(id)}</td>
          <td>${(f.framework_info.roles ?? []).join(', ')}${(f.suppressed_roles ?? []).length > 0 ? html` <small>(suppressed: ${f.suppressed_roles.join(', ')})</small>` : ''}</td>
          <td>${f.framework_info.principal || '–'}</td>
          <td><span class="badge ${f.connected ? 'agent-active' : 'agent-disconnected'}">${f.connected ? 'connected' : f.recovered ? 'recovered' : 'disconnected'}</span></td>
          <td>${counts.get(id) ?? 0}</td>
          <td>${['cpus', 'mem'].filter((n) => use[n]).map((n) => `${n} ${amount(n, use[n])}`).join(', ') || '–'}</td>
          <td>${ago(f.reregistered_time ?? f.registered_time)}</td>
        </tr>`;
      })}</tbody>
    </table>`}
  </section>`;
}

function logUrl(t, stream) {
  return `/api/tasks/${encodeURIComponent(t.framework_id.value)}/${encodeURIComponent(t.task_id.value)}/log?stream=${stream}`;
}

function Tasks({ s, onLog }) {
  const [filter, setFilter] = useState('');
  const [showFinished, setShowFinished] = useState(false);
  const hostnames = new Map([...s.agents.values()].map((a) => [a.agent_info.id.value, a.agent_info.hostname]));
  const names = new Map([...s.frameworks.values()].map((f) => [f.framework_info.id.value, f.framework_info.name]));
  const all = [...s.tasks.values()].filter((t) => showFinished || !TERMINAL.has(t.state));
  const needle = filter.trim().toLowerCase();
  const tasks = all.filter((t) => needle === '' || [t.task_id.value, t.name, t.state, t.role, names.get(t.framework_id.value), hostnames.get(t.agent_id?.value)].some((x) => String(x ?? '').toLowerCase().includes(needle)));
  const shown = tasks.slice(-500).reverse();
  const health = (t) => {
    const healthy = t.statuses?.[0]?.healthy;
    if (!t.health_check) return html`<span class="muted">–</span>`;
    if (healthy === true) return html`<span class="badge health-ok">healthy</span>`;
    if (healthy === false) return html`<span class="badge health-bad">unhealthy</span>`;
    return html`<span class="muted">pending</span>`;
  };
  return html`<section id="tasks">
    <h2>Tasks <small>${tasks.length}${tasks.length > shown.length ? ` (newest ${shown.length} shown)` : ''}</small></h2>
    <div class="controls">
      <input type="search" placeholder="filter by id, name, state, role, framework, host" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
      <label><input type="checkbox" checked=${showFinished} onChange=${(e) => setShowFinished(e.target.checked)} /> finished too</label>
    </div>
    ${shown.length === 0 ? html`<p class="empty">No ${showFinished ? '' : 'active '}tasks.</p>` : html`
    <table>
      <thead><tr><th>task</th><th>framework</th><th>agent</th><th>role</th><th>state</th><th>health</th><th>resources</th><th>message</th><th>logs</th></tr></thead>
      <tbody>${shown.map((t) => {
        const r = scalars(t.resources);
        return html`<tr data-task-id=${t.task_id.value}>
          <td title=${t.name}>${t.task_id.value}</td>
          <td>${names.get(t.framework_id.value) ?? short(t.framework_id.value)}</td>
          <td>${hostnames.get(t.agent_id?.value) ?? short(t.agent_id?.value)}</td>
          <td>${t.role}</td>
          <td><span class=${stateClass(t.state)}>${String(t.state).replace(/^TASK_/, '').toLowerCase()}</span></td>
          <td>${health(t)}</td>
          <td>${['cpus', 'mem'].filter((n) => r[n]).map((n) => `${n} ${amount(n, r[n])}`).join(', ')}</td>
          <td class="message">${t.statuses?.[0]?.message ?? ''}</td>
          <td class="logs">${['stdout', 'stderr'].map((stream) => html`<a href=${logUrl(t, stream)} onClick=${(e) => { e.preventDefault(); onLog(t, stream); }}>${stream}</a> `)}</td>
        </tr>`;
      })}</tbody>
    </table>`}
  </section>`;
}

/** The tail of a task's log (ReadTaskLog through /api/tasks/…/log), refreshed on demand. */
function LogViewer({ task, stream, onClose }) {
  const [text, setText] = useState('loading…');
  const [reload, setReload] = useState(0);
  useEffect(() => {
    let stopped = false;
    (async () => {
      try {
        const res = await fetch(logUrl(task, stream), { headers: authHeaders(), cache: 'no-store' });
        const body = await res.text();
        let shown = body;
        if (!res.ok) {
          try {
            shown = JSON.parse(body).error ?? body;
          } catch {
            // not JSON: show it as it came
          }
        }
        if (!stopped) setText(res.ok ? (shown === '' ? '(empty)' : shown) : `could not read the log: ${shown}`);
      } catch (err) {
        if (!stopped) setText(`could not read the log: ${err.message}`);
      }
    })();
    return () => {
      stopped = true;
    };
  }, [task, stream, reload]);
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class="log">
      <div class="log-head">
        <b>${task.task_id.value}</b> ${stream}
        <span class="spacer"></span>
        <button onClick=${() => setReload((n) => n + 1)}>refresh</button>
        <a href=${logUrl(task, stream)} target="_blank" rel="noopener">raw</a>
        <button onClick=${onClose}>close</button>
      </div>
      <pre>${text}</pre>
    </div>
  </div>`;
}

/** Renders the frameworks-API result states every such panel shares, or calls `body`. */
function FrameworksPanel({ id, title, result, children }) {
  let content;
  if (result.loading) content = html`<p class="empty">loading…</p>`;
  else if (result.error) content = html`<p class="empty">cannot reach the master: ${result.error}</p>`;
  else if (result.body.configured === false) content = html`<p class="empty not-configured">no frameworks API configured (set <code>dashboard.frameworks</code> on the master)</p>`;
  else if (result.status !== 200) content = html`<p class="empty">the frameworks' API did not answer: ${result.body.error}</p>`;
  else content = children(result.body);
  return html`<section id=${id}><h2>${title}</h2>${content}</section>`;
}

function Apps() {
  const result = usePoll('/api/apps', POLL_MS);
  return html`<${FrameworksPanel} id="apps" title="Apps" result=${result}>${(body) => {
    const apps = body.apps ?? [];
    if (apps.length === 0) return html`<p class="empty">No apps.</p>`;
    return html`<table>
      <thead><tr><th>app</th><th>instances</th><th>healthy</th><th>deployment</th><th>why not running</th><th>last failure</th></tr></thead>
      <tbody>${apps.map((a) => {
        const st = a.status ?? {};
        const d = st.deployment;
        const steps = d?.steps ?? [];
        const rejected = st.rejected_offers;
        return html`<tr data-app-id=${a.id}>
          <td>${a.id}${st.deleting ? html` <span class="badge state-killing">deleting</span>` : ''}</td>
          <td>${st.running ?? 0} / ${st.instances ?? 0}${st.staged ? html` <small>(${st.staged} staged)</small>` : ''}</td>
          <td>${st.healthy ?? 0}${st.unhealthy ? html` <small>(${st.unhealthy} not yet)</small>` : ''}</td>
          <td>${d ? html`<span class="badge deploy-${String(d.state).toLowerCase()}">${String(d.kind).toLowerCase()} ${String(d.state).toLowerCase()}</span> <small>${steps.filter((x) => x.status === 'DONE').length}/${steps.length} steps</small>` : html`<span class="muted">none</span>`}</td>
          <td class="waiting">${st.waiting || html`<span class="muted">–</span>`}${rejected?.last_detail ? html`<br /><small>last offer declined: ${rejected.last_reason} — ${rejected.last_detail}${rejected.last_hostname ? ` (${rejected.last_hostname})` : ''}</small>` : ''}</td>
          <td>${st.last_failure?.task_id ? html`<small>${String(st.last_failure.state).replace(/^TASK_/, '').toLowerCase()} ${ago(st.last_failure.at)}: ${st.last_failure.message}</small>` : html`<span class="muted">–</span>`}</td>
        </tr>`;
      })}</tbody>
    </table>`;
  }}<//>`;
}

function Runs({ jobId }) {
  const result = usePoll(`/api/jobs/${encodeURIComponent(jobId)}/runs?limit=10`, POLL_MS);
  if (result.loading) return html`<p class="empty">loading runs…</p>`;
  if (result.error || result.status !== 200) return html`<p class="empty">cannot list runs: ${result.error ?? result.body.error}</p>`;
  const runs = result.body.runs ?? [];
  if (runs.length === 0) return html`<p class="empty">No runs yet.</p>`;
  return html`<table class="runs">
    <thead><tr><th>run</th><th>status</th><th>trigger</th><th>started</th><th>finished</th><th>attempts</th><th>message</th></tr></thead>
    <tbody>${runs.map((r) => html`<tr>
      <td>${r.run_id}</td>
      <td><span class="badge run-${String(r.status).toLowerCase()}">${String(r.status).toLowerCase()}</span></td>
      <td>${String(r.trigger).toLowerCase()}${r.schedule_id ? ` (${r.schedule_id})` : ''}</td>
      <td>${ago(r.created_at)}</td>
      <td>${ago(r.finished_at)}</td>
      <td>${(r.attempts ?? []).length}</td>
      <td>${r.message}</td>
    </tr>`)}</tbody>
  </table>`;
}

function Jobs() {
  const result = usePoll('/api/jobs', POLL_MS);
  const [open, setOpen] = useState(undefined);
  return html`<${FrameworksPanel} id="jobs" title="Jobs" result=${result}>${(body) => {
    const jobs = body.jobs ?? [];
    if (jobs.length === 0) return html`<p class="empty">No jobs.</p>`;
    return html`<table>
      <thead><tr><th>job</th><th>schedules</th><th>next run</th><th>active runs</th><th>history</th><th></th></tr></thead>
      <tbody>${jobs.map((j) => {
        const id = j.definition.id;
        const hist = j.history ?? {};
        const next = (j.schedules ?? []).map((s) => timeOf(s.next_fire_at)).filter(Boolean).sort((a, b) => a - b)[0];
        return html`<tr data-job-id=${id}>
          <td>${id}${j.definition.description ? html`<br /><small>${j.definition.description}</small>` : ''}</td>
          <td>${(j.schedules ?? []).map((s) => html`<div><code>${s.schedule.cron}</code> <small>${s.schedule.timezone || 'UTC'}${s.schedule.enabled === false ? ', disabled' : ''}</small></div>`)}${(j.definition.dependencies ?? []).length > 0 ? html`<div><small>after ${j.definition.dependencies.join(', ')}</small></div>` : ''}</td>
          <td>${next ? ago({ nanoseconds: String(next.getTime() * 1e6) }) : '–'}</td>
          <td>${(j.active_runs ?? []).map((r) => html`<span class="badge run-${String(r.status).toLowerCase()}">${String(r.status).toLowerCase()}</span> `)}${(j.active_runs ?? []).length === 0 ? html`<span class="muted">none</span>` : ''}</td>
          <td><small>${hist.success_count ?? 0} ok · ${hist.failure_count ?? 0} failed · ${hist.missed_count ?? 0} missed · ${hist.skipped_count ?? 0} skipped${hist.last_success_at ? ` · last ok ${ago(hist.last_success_at)}` : ''}</small></td>
          <td><button onClick=${() => setOpen(open === id ? undefined : id)}>${open === id ? 'hide runs' : 'runs'}</button></td>
        </tr>${open === id ? html`<tr class="expanded"><td colspan="6"><${Runs} jobId=${id} /></td></tr>` : ''}`;
      })}</tbody>
    </table>`;
  }}<//>`;
}

/** `cpus 6/8 · mem 1024/4096`: what a batch queue uses of its nominal quota. */
function quotaUse(q) {
  const nominal = q.queue?.nominal_quota ?? {};
  const used = q.used ?? {};
  const names = ['cpus', 'mem', 'disk', 'gpus'].filter((r) => (nominal[r] ?? 0) > 0 || (used[r] ?? 0) > 0);
  return names.map((r) => `${r} ${+(used[r] ?? 0).toFixed(3)}/${+(nominal[r] ?? 0).toFixed(3)}`).join(' · ') || '–';
}

function amountsText(a) {
  const parts = ['cpus', 'mem', 'disk', 'gpus'].filter((r) => (a?.[r] ?? 0) > 0).map((r) => `${r} ${+a[r].toFixed(3)}`);
  return parts.length === 0 ? '–' : parts.join(' · ');
}

/** Batch queues (usage, borrowed quota) and the jobs that have not ended, with why they wait. */
function Batch() {
  const result = usePoll('/api/batch', POLL_MS);
  if (!result.loading && !result.error && result.status === 501) {
    return html`<section id="batch"><h2>Batch</h2><p class="empty">the batch framework does not run on the framework host</p></section>`;
  }
  return html`<${FrameworksPanel} id="batch" title="Batch" result=${result}>${(body) => {
    const queues = body.queues ?? [];
    const jobs = body.jobs ?? [];
    if (queues.length === 0) return html`<p class="empty">No queues (berth queue apply FILE).</p>`;
    return html`<table class="queues">
      <thead><tr><th>queue</th><th>cohort</th><th>weight</th><th>used / nominal</th><th>borrowed</th><th>admitted</th><th>pending</th></tr></thead>
      <tbody>${queues.map((q) => html`<tr data-queue=${q.queue.name}>
        <td>${q.queue.name}</td>
        <td>${q.queue.cohort || html`<span class="muted">–</span>`}</td>
        <td>${q.queue.weight}</td>
        <td>${quotaUse(q)}</td>
        <td>${amountsText(q.borrowed)}</td>
        <td>${q.admitted_jobs}</td>
        <td>${q.pending_jobs}</td>
      </tr>`)}</tbody>
    </table>
    ${jobs.length === 0 ? html`<p class="empty">No batch jobs waiting or running.</p>` : html`<table class="batch-jobs">
      <thead><tr><th>job</th><th>queue</th><th>state</th><th>gang</th><th>attempts</th><th>submitted</th><th>why it waits</th></tr></thead>
      <tbody>${jobs.map((j) => html`<tr data-batch-job=${j.id}>
        <td>${j.id}</td>
        <td>${j.definition.queue}</td>
        <td><span class="badge batch-${String(j.state).toLowerCase()}">${String(j.state).toLowerCase()}</span></td>
        <td>${j.definition.tasks} × ${amountsText(j.definition.shape)}</td>
        <td>${(j.attempts ?? []).length}${j.failures ? html` <small>(${j.failures} failed)</small>` : ''}</td>
        <td>${ago(j.submitted_at)}</td>
        <td class="waiting">${j.reason || html`<span class="muted">–</span>`}</td>
      </tr>`)}</tbody>
    </table>`}`;
  }}<//>`;
}

function App() {
  const s = useStore();
  const [log, setLog] = useState(undefined);
  return html`
    <${Header} s=${s} />
    <main>
      <${Notice} />
      ${s.ready ? html`
        <${Summary} s=${s} />
        <${Roles} s=${s} />
        <${Preemptions} s=${s} />
        <${Agents} s=${s} />
        <${Frameworks} s=${s} />
        <${Tasks} s=${s} onLog=${(task, stream) => setLog({ task, stream })} />` : html`<p class="loading">waiting for the master's state…</p>`}
      <${Apps} />
      <${Jobs} />
      <${Batch} />
    </main>
    ${log ? html`<${LogViewer} task=${log.task} stream=${log.stream} onClose=${() => setLog(undefined)} />` : ''}
  `;
}

const root = document.getElementById('app');
root.textContent = ''; // the "loading" placeholder: render() adds to what is there
render(html`<${App} />`, root);
followEvents();
