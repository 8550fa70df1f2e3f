// The demo chat page: one SignalR connection to /hubs/chat with the
// transport and protocol picked in the page, reconnecting by itself, in one
// room at a time. Plain JavaScript on the official @microsoft/signalr client.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const { HubConnectionBuilder, HttpTransportType, LogLevel } = signalR;

  const TRANSPORTS = {
    auto: null,
    WebSockets: HttpTransportType.WebSockets,
    ServerSentEvents: HttpTransportType.ServerSentEvents,
    LongPolling: HttpTransportType.LongPolling,
  };
  const TRANSPORT_NAMES = { WebSockets: 'WebSockets', ServerSentEvents: 'Server-Sent Events', LongPolling: 'Long Polling' };
  const PROTOCOL_NAMES = { json: 'JSON', messagepack: 'MessagePack' };

  // The page's choices: the URL's query (?transport=LongPolling&protocol=messagepack&room=x&name=y)
  // first, then what was used last time.
  const query = new URLSearchParams(location.search);
  const pick = (key, allowed, fallback) => {
    const v = query.get(key) || localStorage.getItem('actorhub.' + key);
    return v && (!allowed || Object.hasOwn(allowed, v)) ? v : fallback;
  };
  const page = {
    name: pick('name', null, 'guest-' + String(Math.floor(1000 + Math.random() * 9000))),
    room: pick('room', null, 'lobby'),
    transport: pick('transport', TRANSPORTS, 'auto'),
    protocol: pick('protocol', PROTOCOL_NAMES, 'json'),
    conn: null,
    generation: 0, // bumped whenever a connection is replaced; late events of old ones are ignored
    joined: null, // the room the server has us in
    retry: null, // timer of the next start after a failed one
    retries: 0,
    reconnects: 0,
    wanted: true, // false once the user pressed Disconnect
  };

  // ---------------------------------------------------------------------------------------------
  // What the page shows

  function setState(state, detail) {
    const el = $('state');
    el.dataset.state = state;
    $('state-text').textContent = detail ? `${state} · ${detail}` : state;
    document.body.dataset.state = state;
    const connected = state === 'connected';
    $('message').disabled = !connected || !page.joined;
    $('send').disabled = !connected || !page.joined;
    $('toggle').textContent = page.wanted ? 'Disconnect' : 'Connect';
    if (!connected) {
      $('info-id').textContent = '–';
    }
  }

  function time() {
    return new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function add(kind, parts) {
    const list = $('messages');
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
    const li = document.createElement('li');
    li.className = kind;
    for (const [cls, text] of parts) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    const t = document.createElement('time');
    t.textContent = time();
    li.append(t);
    list.append(li);
    while (list.children.length > 500) list.firstElementChild.remove(); // a long session stays light
    if (stick) list.scrollTop = list.scrollHeight;
  }

  const say = (user, text) => add(user === page.name ? 'message mine' : 'message', [['author', user], ['text', text]]);
  const notice = (text, kind = 'notice') => add(kind, [['text', text]]);

  function showMembers(n) {
    const m = $('members');
    m.dataset.count = String(n);
    m.textContent = n === 1 ? 'just you' : `${n} here`;
  }

  function showRoom() {
    $('room-title').textContent = '#' + page.room;
    document.title = `#${page.room} · actorhub chat`;
  }

  // The URL says what the page does, so it can be shared or reloaded as is.
  function rememberChoices() {
    const q = new URLSearchParams(location.search);
    for (const key of ['transport', 'protocol', 'room']) {
      q.set(key, page[key]);
      localStorage.setItem('actorhub.' + key, page[key]);
    }
    q.delete('name');
    localStorage.setItem('actorhub.name', page.name);
    history.replaceState(null, '', `${location.pathname}?${q}`);
  }

  // ---------------------------------------------------------------------------------------------
  // The connection

  // The client's log: errors and warnings go to the console; which transport the client chose is
  // read from its debug log (it says "Selecting transport '<name>'").
  function logger(generation) {
    return {
      log(level, message) {
        if (generation !== page.generation) return;
        const chosen = /^Selecting transport '(\w+)'/.exec(message);
        if (chosen) {
          $('info-transport').textContent = TRANSPORT_NAMES[chosen[1]] || chosen[1];
          document.body.dataset.transport = chosen[1];
        }
        if (level >= LogLevel.Error) console.error(`SignalR: ${message}`);
        else if (level === LogLevel.Warning) console.warn(`SignalR: ${message}`);
      },
    };
  }

  function build(generation) {
    const options = {};
    if (TRANSPORTS[page.transport] !== null) options.transport = TRANSPORTS[page.transport];
    const builder = new HubConnectionBuilder()
      .withUrl('/hubs/chat', options)
      // Retry for ever, every few seconds at most: a demo page should come back whenever the
      // server does.
      .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(250 * 2 ** ctx.previousRetryCount, 3000) })
      .configureLogging(logger(generation));
    if (page.protocol === 'messagepack') {
      builder.withHubProtocol(new signalR.protocols.msgpack.MessagePackHubProtocol());
    }
    const conn = builder.build();
    const current = () => generation === page.generation;

    conn.on('ReceiveMessage', (user, text) => { if (current()) say(String(user), String(text)); });
    conn.on('UserJoined', (room, name, members) => {
      if (!current() || room !== page.room) return; // our own join is heard before JoinRoom returns
      notice(name === page.name ? `You joined #${room}` : `${name} joined`, 'notice joined');
      showMembers(members);
    });
    conn.on('UserLeft', (room, name, members) => {
      if (!current() || room !== page.joined) return;
      notice(`${name} left`, 'notice left');
      showMembers(members);
    });
    conn.onreconnecting((err) => {
      if (!current()) return;
      page.joined = null;
      delete document.body.dataset.joined;
      setState('reconnecting', err ? 'connection lost' : '');
      notice('Connection lost, reconnecting…', 'notice warn');
    });
    conn.onreconnected(async () => {
      if (!current()) return;
      page.reconnects++;
      $('info-reconnects').textContent = String(page.reconnects);
      document.body.dataset.reconnects = String(page.reconnects);
      connected(conn);
      notice('Reconnected', 'notice good');
      await join(conn, generation);
    });
    conn.onclose((err) => {
      if (!current()) return;
      page.joined = null;
      delete document.body.dataset.joined;
      setState('disconnected', err ? 'connection closed' : '');
      if (page.wanted) scheduleStart(generation);
    });
    return conn;
  }

  function connected(conn) {
    setState('connected');
    $('info-id').textContent = conn.connectionId || '–';
    $('info-protocol').textContent = PROTOCOL_NAMES[page.protocol];
    if (page.transport !== 'auto') {
      $('info-transport').textContent = TRANSPORT_NAMES[page.transport];
      document.body.dataset.transport = page.transport;
    }
  }

  async function start(generation) {
    if (generation !== page.generation) return;
    const conn = page.conn;
    setState('connecting');
    try {
      await conn.start();
    } catch (err) {
      if (generation !== page.generation) return;
      setState('disconnected', 'server unreachable');
      scheduleStart(generation);
      return;
    }
    if (generation !== page.generation) return;
    page.retries = 0;
    connected(conn);
    await join(conn, generation);
  }

  // A connection that could not start, or ended for good, is started again after a while.
  function scheduleStart(generation) {
    clearTimeout(page.retry);
    const delay = Math.min(500 * 2 ** page.retries++, 5000);
    page.retry = setTimeout(() => {
      if (generation !== page.generation || !page.wanted) return;
      page.conn = build(generation);
      start(generation);
    }, delay);
  }

  async function join(conn, generation) {
    try {
      const members = await conn.invoke('JoinRoom', page.room, page.name);
      if (generation !== page.generation) return;
      page.joined = page.room;
      showMembers(members);
      setState('connected');
      document.body.dataset.joined = page.room;
    } catch (err) {
      if (generation === page.generation) notice(`Could not join #${page.room}: ${err.message}`, 'notice error');
    }
  }

  // connect replaces the connection with one that uses the page's current choices.
  async function connect() {
    const generation = ++page.generation;
    clearTimeout(page.retry);
    const old = page.conn;
    page.conn = null;
    page.joined = null;
    delete document.body.dataset.joined;
    delete document.body.dataset.transport;
    $('info-transport').textContent = '–';
    if (old) await old.stop();
    if (generation !== page.generation) return;
    if (!page.wanted) {
      setState('disconnected');
      return;
    }
    page.conn = build(generation);
    await start(generation);
  }

  // ---------------------------------------------------------------------------------------------
  // What the user does

  $('name').value = page.name;
  $('room').value = page.room;
  $('transport').value = page.transport;
  $('protocol').value = page.protocol;
  showRoom();
  rememberChoices();

  $('join-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    const room = $('room').value.trim();
    if (!name || !room) return;
    const conn = page.conn;
    const previous = page.joined;
    page.name = name;
    page.room = room;
    showRoom();
    rememberChoices();
    if (!conn || conn.state !== signalR.HubConnectionState.Connected) return; // joins once connected
    if (previous && previous !== room) {
      page.joined = null;
      $('messages').replaceChildren();
      try { await conn.invoke('LeaveRoom', previous); } catch { /* the connection may be going */ }
    }
    await join(conn, page.generation);
  });

  $('conn-form').addEventListener('change', () => {
    page.transport = $('transport').value;
    page.protocol = $('protocol').value;
    rememberChoices();
    notice(`Connecting with ${page.transport === 'auto' ? 'the best transport available' : TRANSPORT_NAMES[page.transport]} and ${PROTOCOL_NAMES[page.protocol]}…`);
    page.wanted = true;
    connect();
  });

  $('toggle').addEventListener('click', () => {
    page.wanted = !page.wanted;
    notice(page.wanted ? 'Connecting…' : 'Disconnected');
    connect();
  });

  $('send-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('message');
    const text = input.value.trim();
    if (!text || !page.conn || !page.joined) return;
    input.value = '';
    try {
      await page.conn.invoke('SendToRoom', page.joined, text);
    } catch (err) {
      notice(`Not sent: ${err.message}`, 'notice error');
      input.value = text;
    }
  });

  // Leaving the page ends the connection cleanly, so the room hears at once that we left.
  window.addEventListener('pagehide', () => { page.wanted = false; page.conn?.stop(); });

  connect();
})();
