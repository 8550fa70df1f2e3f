// The dashboard: asks /hubs/dashboard for the node's description and recent samples, then draws
// every sample the server pushes (one a second). Plain JavaScript and <canvas>.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const { HubConnectionBuilder, LogLevel } = signalR;

  // An operator token given as ?access_token= is kept for this tab only and taken out of the
  // address bar (and so out of the history); the client sends it on every request.
  const query = new URLSearchParams(location.search);
  if (query.has('access_token')) {
    sessionStorage.setItem('actorhub.opsToken', query.get('access_token'));
    query.delete('access_token');
    history.replaceState(null, '', location.pathname + (query.size ? `?${query}` : ''));
  }
  const token = sessionStorage.getItem('actorhub.opsToken');

  const dash = { info: null, samples: [], windowMs: 300000 };
  const COLORS = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#64748b'];

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const dec = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  const count = (n) => (n >= 10000 ? dec.format(n / 1000) + 'k' : n >= 100 ? int.format(n) : dec.format(n));
  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? int.format(n) : dec.format(n)} ${units[i]}`;
  }
  function ago(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  // ---------------------------------------------------------------------------------------------
  // Plots

  // draw plots series ({label, color, values: [[t, v]...]}) over the last windowMs on canvas.
  function draw(canvas, legend, series, format, binary = false) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    const now = dash.samples.length ? dash.samples[dash.samples.length - 1].t : Date.now();
    // The window: the last minutes the server keeps, or less while it has not been up that long.
    const span = dash.samples.length ? now - dash.samples[0].t : 0;
    const win = Math.min(dash.windowMs, Math.max(60000, Math.ceil(span / 60000) * 60000));
    const t0 = now - win;
    let max = 0;
    for (const s of series) for (const [, v] of s.values) max = Math.max(max, v);
    const step = niceStep(max / 4, binary);
    max = 4 * step;

    const left = 64;
    const right = 8;
    const top = 8;
    const bottom = 22;
    const pw = w - left - right;
    const ph = h - top - bottom;
    const x = (t) => left + ((t - t0) / win) * pw;
    const y = (v) => top + ph - (v / max) * ph;

    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      g.strokeStyle = i === 0 ? '#c9ccd8' : '#eceef4';
      g.beginPath();
      g.moveTo(left, Math.round(y(v)) + 0.5);
      g.lineTo(w - right, Math.round(y(v)) + 0.5);
      g.stroke();
      g.fillStyle = '#8a8fa3';
      g.textAlign = 'right';
      g.fillText(format(v), left - 8, y(v));
    }
    g.textAlign = 'center';
    g.textBaseline = 'alphabetic';
    let tick = win <= 60000 ? 10000 : win <= 180000 ? 30000 : 60000;
    while ((pw * tick) / win < 56) tick *= 2; // labels at least 56 px apart
    for (let back = win; back >= 0; back -= tick) {
      const label = back === 0 ? 'now' : back % 60000 === 0 ? `−${back / 60000} min` : `−${back / 1000} s`;
      g.textAlign = back === 0 ? 'right' : 'center';
      g.fillText(label, back === 0 ? w - right : x(now - back), h - 6);
    }

    g.lineWidth = 2;
    g.lineJoin = 'round';
    for (const s of series) {
      g.strokeStyle = s.color;
      g.beginPath();
      let started = false;
      let last = 0;
      for (const [t, v] of s.values) {
        if (t < t0) continue;
        // A gap of several samples (the page or the server was away) is not bridged.
        if (started && t - last > 5000) started = false;
        if (started) g.lineTo(x(t), y(v)); else g.moveTo(x(t), y(v));
        started = true;
        last = t;
      }
      g.stroke();
    }

    legend.replaceChildren(...series.map((s) => {
      const span = document.createElement('span');
      const i = document.createElement('i');
      i.style.background = s.color;
      span.append(i, s.label);
      return span;
    }));
  }

  // niceStep is the smallest round number at least v: 1, 2 or 5 times a power of ten, or for
  // bytes a power of two of a binary unit (KiB, MiB, ...), so that the axis reads well.
  function niceStep(v, binary) {
    if (!(v > 0)) return 1;
    if (binary) {
      const unit = 1024 ** Math.max(0, Math.floor(Math.log(v) / Math.log(1024)));
      return unit * 2 ** Math.ceil(Math.log2(v / unit));
    }
    if (v < 1) v = 1; // counts and rates of whole things
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  const pick = (f) => dash.samples.map((s) => [s.t, f(s)]);

  function drawAll() {
    const hubs = dash.info ? dash.info.hubs : [];
    draw($('chart-connections'), $('legend-connections'), [
      { label: 'all hubs', color: COLORS[0], values: pick((s) => s.connections) },
      ...hubs.map((name, i) => ({
        label: name, color: COLORS[(i + 1) % COLORS.length],
        values: pick((s) => (s.hubs.find((hs) => hs.name === name) || { connections: 0 }).connections),
      })),
    ], count);
    draw($('chart-messages'), $('legend-messages'), [
      { label: 'in', color: COLORS[1], values: pick((s) => s.messagesInPerSec) },
      { label: 'out', color: COLORS[0], values: pick((s) => s.messagesOutPerSec) },
    ], count);
    draw($('chart-bytes'), $('legend-bytes'), [
      { label: 'in', color: COLORS[1], values: pick((s) => s.bytesInPerSec) },
      { label: 'out', color: COLORS[0], values: pick((s) => s.bytesOutPerSec) },
    ], bytes, true);
    draw($('chart-memory'), $('legend-memory'), [
      { label: 'resident', color: COLORS[3], values: pick((s) => s.rssBytes) },
      { label: 'Go heap', color: COLORS[2], values: pick((s) => s.heapBytes) },
    ], bytes, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Numbers and tables

  const NAMES = {
    WebSockets: 'WebSockets', ServerSentEvents: 'Server-Sent Events', LongPolling: 'Long Polling',
    json: 'JSON', messagepack: 'MessagePack',
  };
  const label = (k) => NAMES[k] || k;

  // table fills a table with [name, value] rows; with shares, each row gets a bar of its share.
  function table(id, rows, empty, shares) {
    const el = $(id);
    if (!rows.length) {
      el.innerHTML = '';
      const tr = el.insertRow();
      tr.className = 'empty';
      tr.insertCell().textContent = empty;
      return;
    }
    el.replaceChildren();
    rows.forEach(([name, value], i) => {
      const tr = el.insertRow();
      const th = tr.insertCell();
      th.textContent = name;
      if (shares) {
        const bar = document.createElement('div');
        bar.className = 'share';
        bar.style.width = `${Math.round(100 * shares[i])}%`;
        th.append(bar);
      }
      const td = tr.insertCell();
      td.className = 'n';
      td.textContent = value;
    });
  }

  const entries = (m) => Object.entries(m || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

  // The sample of about ms ago, for "in the last minute" figures.
  function before(ms) {
    const last = dash.samples[dash.samples.length - 1];
    for (let i = dash.samples.length - 1; i >= 0; i--) {
      if (last.t - dash.samples[i].t >= ms) return dash.samples[i];
    }
    return dash.samples[0];
  }

  function render() {
    const s = dash.samples[dash.samples.length - 1];
    if (!s) return;
    const minuteAgo = before(60000);

    $('kpi-connections').textContent = int.format(s.connections);
    $('kpi-connections').dataset.value = String(s.connections);
    $('kpi-connections-sub').textContent = s.hubs.map((h) => `${h.name} ${int.format(h.connections)}`).join(' · ');
    $('kpi-msgs-in').textContent = count(s.messagesInPerSec);
    $('kpi-msgs-out').textContent = count(s.messagesOutPerSec);
    $('kpi-bytes-in').textContent = `${bytes(s.bytesInPerSec)}/s`;
    $('kpi-bytes-out').textContent = `${bytes(s.bytesOutPerSec)}/s`;
    $('kpi-heap').textContent = bytes(s.heapBytes);
    $('kpi-rss').textContent = bytes(s.rssBytes);
    $('kpi-heap-per').textContent = s.open ? `${bytes(s.heapPerConn)} per connection` : 'no connections';
    $('kpi-rss-per').textContent = s.open ? `${bytes(s.rssPerConn)} per connection` : 'no connections';
    $('kpi-goroutines').textContent = int.format(s.goroutines);
    const slowRecent = s.slowConsumerDrops - (minuteAgo.slowConsumerDrops || 0);
    $('kpi-slow').textContent = int.format(s.slowConsumerDrops);
    $('kpi-slow-sub').textContent = slowRecent > 0 ? `${int.format(slowRecent)} in the last minute` : 'none in the last minute';
    $('kpi-slow-card').classList.toggle('bad', slowRecent > 0);

    table('table-hubs', s.hubs.map((h) => [h.name, int.format(h.connections)]), 'no hubs');
    const split = (m) => {
      const rows = entries(m);
      const sum = rows.reduce((a, [, v]) => a + v, 0);
      return [rows.map(([k, v]) => [label(k), int.format(v)]), rows.map(([, v]) => (sum ? v / sum : 0))];
    };
    const [transportRows, transportShares] = split(s.transports);
    table('table-transports', transportRows, 'no connections', transportShares);
    const [protocolRows, protocolShares] = split(s.protocols);
    table('table-protocols', protocolRows, 'no connections', protocolShares);
    table('table-nodes', entries(s.nodes).map(([k, v]) => [k === dash.info?.node ? `${k} (this node)` : k, int.format(v)]),
      dash.info?.backplane ? 'no node has reported yet' : 'a single node (no backplane)');
    table('table-closes', entries(s.closes).filter(([, v]) => v > 0).map(([k, v]) => {
      const recent = v - ((minuteAgo.closes || {})[k] || 0);
      return [k.replace('_', ' '), recent > 0 ? `${int.format(v)} (+${int.format(recent)} in 1 min)` : int.format(v)];
    }), 'none since start');

    // Health at a glance.
    const health = $('health');
    let level = 'ok';
    let text = 'Healthy';
    let why = `ready for traffic, ${int.format(s.connections)} connection${s.connections === 1 ? '' : 's'}`;
    if (!s.ready) {
      level = 'bad';
      text = 'Not ready';
      why = s.notReadyBecause || 'see /readyz';
    } else if (slowRecent > 0) {
      level = 'warn';
      text = 'Degraded';
      why = `${int.format(slowRecent)} slow client${slowRecent === 1 ? '' : 's'} dropped in the last minute`;
    }
    health.dataset.health = level;
    $('health-badge').textContent = text;
    $('health-why').textContent = why;
    if (dash.info) {
      const i = dash.info;
      $('node').textContent = `node ${i.node}${i.backplane ? ` on ${i.backplane}` : ''} · up ${ago(s.t - i.started)} · ${i.goVersion} · ${i.cpus} CPU${i.cpus === 1 ? '' : 's'}`;
    }
    const last = $('last-update');
    last.dataset.t = String(s.t);
    last.textContent = new Date(s.t).toLocaleTimeString();
    drawAll();
  }

  function noData(why) {
    const health = $('health');
    health.dataset.health = 'unknown';
    $('health-badge').textContent = 'No data';
    $('health-why').textContent = why;
  }

  // ---------------------------------------------------------------------------------------------
  // The connection

  function setState(state) {
    $('state').dataset.state = state;
    $('state-text').textContent = state;
    document.body.dataset.state = state;
  }

  const conn = new HubConnectionBuilder()
    .withUrl('/hubs/dashboard', token ? { accessTokenFactory: () => token } : {})
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(500 * 2 ** ctx.previousRetryCount, 5000) })
    .configureLogging(LogLevel.Warning)
    .build();

  conn.on('Sample', (s) => {
    dash.samples.push(s);
    const limit = dash.info ? dash.info.historySamples : 300;
    if (dash.samples.length > limit) dash.samples.splice(0, dash.samples.length - limit);
    render();
  });
  conn.onreconnecting(() => { setState('reconnecting'); noData('the dashboard lost its connection to the server'); });
  conn.onreconnected(() => { setState('connected'); load(); });
  conn.onclose(() => { setState('disconnected'); noData('not connected'); setTimeout(start, 3000); });

  async function load() {
    const info = await conn.invoke('Snapshot');
    dash.info = info;
    dash.windowMs = info.historySamples * info.sampleEveryMs;
    $('window').textContent = String(Math.round(dash.windowMs / 60000));
    // Keep what was pushed meanwhile, after the history.
    const lastT = info.history.length ? info.history[info.history.length - 1].t : 0;
    dash.samples = info.history.concat(dash.samples.filter((s) => s.t > lastT));
    render();
  }

  async function start() {
    setState('connecting');
    try {
      await conn.start();
    } catch (err) {
      setState('disconnected');
      noData(err && err.statusCode === 401 ? 'this page needs the operator token: open /dashboard?access_token=…'
        : err && err.statusCode === 403 ? 'operator pages answer only this machine here' : 'the server cannot be reached');
      setTimeout(start, 3000);
      return;
    }
    setState('connected');
    await load();
  }

  window.addEventListener('resize', drawAll);
  start();
})();
