/**
 * A small browser client for the wslab gateway: the JSON messages of `/chat` and `/stocks`
 * (docs/MESSAGES.md) over standard WebSockets, reconnecting with jittered exponential
 * back-off and resuming where the last connection ended. No dependencies; see
 * docs/BROWSER.md for examples.
 *
 * @module wslab
 */

/** The first reconnection delay, in milliseconds; it doubles after each failed attempt. */
export const INITIAL_DELAY = 500;
/** The longest reconnection delay, in milliseconds. */
export const MAX_DELAY = 10_000;
/** The room a chat connection joins unless told otherwise. */
export const DEFAULT_ROOM = "lobby";
/** Nicknames and room names: 1 to 32 ASCII letters, digits, `_` or `-`. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A readable sentence for each error code of docs/MESSAGES.md ("Errors").
 * @type {Readonly<Record<string, string>>}
 */
export const ERROR_TEXTS = Object.freeze({
  unavailable: "The service is not running right now: what you sent was not delivered. Try again in a moment.",
  bus_down: "The server cannot reach its message bus: what you sent was not delivered. Try again in a moment.",
  overloaded: "The server is overloaded: what you sent was not delivered. Try again in a moment.",
  bad_request: "The server did not understand that request.",
  bad_json: "A message starting with { must be valid JSON: nothing was said.",
  not_member: "You are not in that room: join it first.",
  no_such_member: "That person is not in this room: the private message was not sent.",
  nick_taken: "Someone in that room already uses this nickname: pick another nickname or another room.",
  too_long: "That message is too long: nothing was said. Shorten it and send it again.",
  rate_limited: "You are sending too fast: that message was dropped. Wait a moment and send it again.",
  too_many_rooms: "You are in as many rooms as allowed: leave one before joining another.",
  unknown_symbol: "There are no quotes for that symbol: check the spelling.",
});

/**
 * The readable sentence for an error code.
 * @param {string} code
 * @returns {string}
 */
export function describeError(code) {
  return Object.hasOwn(ERROR_TEXTS, code) ? ERROR_TEXTS[code] : `The server reported an error (${code}).`;
}

/**
 * The WebSocket URL of `path` on the page's own host: `wss:` for an `https:` page, else `ws:`.
 * A `token` in the page's own query (`/?token=...`, for a gateway in token mode) is passed
 * on: a browser cannot set the `Authorization` header of a WebSocket.
 * @param {string} path such as `/chat`
 * @param {Record<string, string|number|null|undefined>} [params] query parameters; null and
 *   undefined ones are left out
 * @param {{href: string, protocol: string}} [loc] the page's location
 * @returns {string}
 */
export function gatewayUrl(path, params = {}, loc = globalThis.location) {
  const url = new URL(path, loc.href);
  url.protocol = loc.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  const token = new URL(loc.href).searchParams.get("token");
  if (token) url.searchParams.set("token", token);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) url.searchParams.set(name, String(value));
  }
  return url.href;
}

/**
 * Reconnection delays in milliseconds: `initial`, doubling up to `max`, each shortened at
 * random by up to half, so that clients dropped together do not come back together.
 * @param {{initial?: number, max?: number, random?: () => number}} [options]
 * @returns {Generator<number, never>}
 */
export function* backoff({ initial = INITIAL_DELAY, max = MAX_DELAY, random = Math.random } = {}) {
  for (let delay = initial; ; delay = Math.min(max, delay * 2)) yield delay * (1 - random() / 2);
}

/**
 * @typedef {"idle"|"connecting"|"open"|"reconnecting"|"closed"} State
 * `idle` before {@link Connection#open}; `connecting` during the first attempt; `open`;
 * `reconnecting` from a drop until a connection opens again (waiting, then trying);
 * `closed` after {@link Connection#close}.
 */

/** An EventTarget whose events are CustomEvents carrying their payload in `detail`. */
class Emitter extends EventTarget {
  /**
   * @protected
   * @param {string} type
   * @param {object} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * One WebSocket endpoint, reopened after each drop until {@link Connection#close}.
 *
 * Events (CustomEvent, the payload in `detail`):
 * - `state`: `{state, delay?, reason?}`; `delay` (ms) when a reconnection is scheduled;
 * - `open`: `{}` each time a connection opens;
 * - `message`: `{message, text}`: `message` is the parsed JSON object, or null when the
 *   text is not a JSON object;
 * - `close`: `{code, reason, wasClean}` each time a connection closes.
 */
export class Connection extends Emitter {
  #url;
  #options;
  #WebSocket;
  /** @type {WebSocket|null} */
  #ws = null;
  /** @type {State} */
  #state = "idle";
  #delays;
  #timer = 0;

  /**
   * @param {string | (() => string)} url the URL, or a function giving it before each attempt
   * @param {{initial?: number, max?: number, random?: () => number, WebSocket?: typeof WebSocket}} [options]
   *   back-off settings (see {@link backoff}), and a WebSocket class for tests
   */
  constructor(url, options = {}) {
    super();
    this.#url = url;
    this.#options = options;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#delays = backoff(options);
  }

  /** @returns {State} */
  get state() {
    return this.#state;
  }

  /** Connect; reconnect after each drop until {@link Connection#close}. */
  open() {
    if (this.#state !== "idle" && this.#state !== "closed") return;
    this.resetBackoff();
    this.#setState("connecting");
    this.#attempt();
  }

  /**
   * Close for good: no reconnection.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = "") {
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(code, reason);
    if (this.#state !== "idle") this.#setState("closed");
  }

  /**
   * Send a JSON object (or a string as it is).
   * @param {object|string} message
   * @returns {boolean} false when no connection is open: nothing was sent
   */
  send(message) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== this.#WebSocket.OPEN) return false;
    ws.send(typeof message === "string" ? message : JSON.stringify(message));
    return true;
  }

  /** Start the delays over: call it once a connection proved useful (the service answered). */
  resetBackoff() {
    this.#delays = backoff(this.#options);
  }

  /**
   * Drop the current connection and reconnect after the next delay (the delays keep growing).
   * @param {string} reason shown with the `reconnecting` state
   */
  reconnect(reason) {
    const ws = this.#ws;
    if (this.#state === "idle" || this.#state === "closed" || ws === null) return;
    this.#ws = null;
    ws.close(1000, "reconnecting");
    this.#schedule(reason);
  }

  /** While waiting to reconnect, try at once (for a "retry now" button, or `online`). */
  retryNow() {
    if (this.#state === "reconnecting" && this.#ws === null) {
      clearTimeout(this.#timer);
      this.#attempt();
    }
  }

  #attempt() {
    const url = typeof this.#url === "function" ? this.#url() : this.#url;
    const ws = new this.#WebSocket(url);
    this.#ws = ws;
    ws.addEventListener("open", () => {
      if (this.#ws !== ws) return;
      this.#setState("open");
      this.emit("open", {});
    });
    ws.addEventListener("message", (event) => {
      if (this.#ws !== ws || typeof event.data !== "string") return;
      this.emit("message", { message: parseObject(event.data), text: event.data });
    });
    ws.addEventListener("close", (event) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.emit("close", { code: event.code, reason: event.reason, wasClean: event.wasClean });
      this.#schedule(event.reason || (event.wasClean ? "the server closed the connection" : "the connection failed"));
    });
  }

  #schedule(reason) {
    clearTimeout(this.#timer);
    const delay = this.#delays.next().value;
    this.#setState("reconnecting", { delay, reason });
    this.#timer = setTimeout(() => this.#attempt(), delay);
  }

  #setState(state, extra = {}) {
    this.#state = state;
    this.emit("state", { state, ...extra });
  }
}

/** @returns {object|null} the JSON object in `text`, or null */
function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The events of one room seen so far, by `seq`: which are new, and whether some are missing.
 * Events may come twice (live, then in a `history`) and out of order (a history after a
 * newer live event); {@link SeqTracker#see} says true once for each.
 */
export class SeqTracker {
  /** Every event up to this seq was seen or is lost for good; undefined before the first. */
  last = undefined;
  /** @type {Set<number>} seqs seen above `last + 1`: there is a gap below them */
  #ahead = new Set();

  /**
   * Record an event; return true if it is new.
   * @param {number} seq
   */
  see(seq) {
    if ((this.last !== undefined && seq <= this.last) || this.#ahead.has(seq)) return false;
    this.#ahead.add(seq);
    this.#advance();
    return true;
  }

  /**
   * Count from `seq` (the event before a room's first history) if nothing was counted yet.
   * @param {number} seq
   */
  start(seq) {
    if (this.last === undefined) this.skipTo(seq);
  }

  /**
   * Give up on the events up to `seq`: they were seen, or they are lost.
   * @param {number} seq
   */
  skipTo(seq) {
    if (this.last !== undefined && seq <= this.last) return;
    this.last = seq;
    for (const s of this.#ahead) if (s <= seq) this.#ahead.delete(s);
    this.#advance();
  }

  /** True when an event above `last + 1` was seen while `last + 1` was not. */
  get gap() {
    return this.last !== undefined && this.#ahead.size > 0;
  }

  /** The lowest seq seen above the gap, if any. */
  get nextSeen() {
    return this.#ahead.size ? Math.min(...this.#ahead) : undefined;
  }

  #advance() {
    if (this.last === undefined) return;
    while (this.#ahead.delete(this.last + 1)) this.last += 1;
  }
}

const ROOM_EVENTS = new Set(["join", "message", "leave"]);
/**
 * Joins, leaves and history requests go out at most PACE_BURST at once, then one per PACE_MS:
 * below the chat's default rate (5 a second, bursts of 10; docs/MESSAGES.md "Limits"), so
 * that resuming many rooms is not dropped as `rate_limited`.
 */
const PACE_BURST = 6;
const PACE_MS = 250;
/** A history asked for that has not come after this long (ms) is taken as lost. */
const HISTORY_TIMEOUT = 15_000;
const UNDELIVERED = new Set(["unavailable", "bus_down"]);
const JOIN_REFUSED = new Set(["nick_taken", "too_many_rooms"]);

/**
 * What {@link ChatClient} and {@link StocksClient} share: a {@link Connection} they drive,
 * whose `state` events they pass on, and the methods that control it.
 */
class ServiceClient extends Emitter {
  /** @protected */
  connection;

  /**
   * @param {string | (() => string)} url as {@link Connection}'s
   * @param {object} options options of the {@link Connection}
   */
  constructor(url, options) {
    super();
    this.connection = new Connection(url, options);
    this.connection.addEventListener("state", (e) => this.emit("state", e.detail));
    this.connection.addEventListener("open", () => this.opened());
    this.connection.addEventListener("message", (e) => this.received(e.detail.message));
  }

  /** @returns {State} */
  get state() {
    return this.connection.state;
  }

  /** Connect, and stay connected until {@link ServiceClient#close}. */
  connect() {
    this.connection.open();
  }

  /** Close the connection for good. */
  close() {
    this.connection.close();
  }

  /** Try to reconnect at once while waiting to. */
  retryNow() {
    this.connection.retryNow();
  }

  /**
   * Send any message of docs/MESSAGES.md.
   * @param {object|string} message
   * @returns {boolean} false when not connected: nothing was sent
   */
  send(message) {
    return this.connection.send(message);
  }

  /** @protected Each time a connection opens. */
  opened() {}

  /**
   * @protected Each message received.
   * @param {object|null} message the parsed JSON object, or null
   */
  received(message) {}
}

/**
 * A chat connection at `/chat` (docs/MESSAGES.md, "Chat") that stays in its rooms across
 * drops: it reconnects to its first room with `since` its last seq, joins the others again
 * and asks each for its history since its last seq. Room events come once each: it drops
 * repeats by `seq`, and asks for the history when it sees a gap.
 *
 * Events (CustomEvent, the payload in `detail`):
 * - `state`: as {@link Connection}'s;
 * - `welcome`: the `welcome` message (`nick`, `room`);
 * - `event`: `{event, history}` for each new `join`, `message` or `leave`, once;
 *   `history` is true when it came in a `history` message. Events of a room can come out
 *   of `seq` order (a history follows your live `join`);
 * - `history`: `{room, events}` after a `history` message, with its new events;
 * - `members`: `{room, members}` when a room's member list changes (sorted nicknames);
 * - `rooms`: the `rooms` message (`rooms`: `[{room, members}]`);
 * - `joined`: `{room}` once the service confirmed a join; `left`: `{room}` after a leave
 *   or a refused join;
 * - `private`: the `private` message (`room`, `from`, `to`, `text`, `ts`);
 * - `resync`: `{room, from}`: the events before seq `from` that this client missed are lost;
 * - `error`: `{code, message, text}`, `text` being {@link describeError}'s sentence.
 */
export class ChatClient extends ServiceClient {
  /** The nickname: as asked, then as the service's `welcome` says. */
  nick;
  #firstRoom;
  /** @type {string[]} rooms joined or being joined, oldest first */
  #rooms = [];
  /** @type {string[]} rooms whose join the service has not answered yet, in order */
  #joining = [];
  /** @type {Map<string, SeqTracker>} */
  #seqs = new Map();
  /** @type {Map<string, Set<string>>} */
  #members = new Map();
  /** @type {Map<string, Array<{since: number|null, at: number}>>} per room, the histories expected */
  #expected = new Map();
  /** @type {object[]} joins and history requests waiting for their turn */
  #outbox = [];
  #tokens = PACE_BURST;
  #refilled = 0;
  #pacer = 0;
  #welcomed = false;
  #resumed = false;

  /**
   * @param {object} [options]
   * @param {string} [options.nick] the nickname; without it the service picks `guest-XXXX`
   * @param {string} [options.room] the first room (default `lobby`)
   * @param {string} [options.path] the gateway's chat path (default `/chat`)
   * @param {(path: string, params: object) => string} [options.url] builds the URL
   *   (default {@link gatewayUrl}, on the page's host)
   * @param {object} [options.connection] options of the {@link Connection}
   */
  constructor({ nick = "", room = DEFAULT_ROOM, path = "/chat", url = gatewayUrl, connection = {} } = {}) {
    // The URL is built before each attempt, once the fields below exist.
    super(() => this.#url(path, url), connection);
    this.nick = nick;
    this.#firstRoom = room;
  }


  /** The rooms joined or being joined, oldest first: the first one is the "first room". */
  get rooms() {
    return [...this.#rooms];
  }

  /**
   * The members of a joined room, sorted, as last known.
   * @param {string} room
   * @returns {string[]}
   */
  members(room) {
    return [...(this.#members.get(room) ?? [])].sort();
  }

  /**
   * The seq up to which every event of `room` was seen (what a reconnection resumes from).
   * @param {string} room
   * @returns {number|undefined}
   */
  lastSeq(room) {
    return this.#seqs.get(room)?.last;
  }

  /**
   * Say `text` in `room` (default: the first room).
   * @param {string} text
   * @param {string} [room]
   */
  say(text, room) {
    return this.send(room ? { type: "say", room, text } : { type: "say", text });
  }

  /**
   * Say `text` to `to` only, a member of `room` (default: the first room).
   * @param {string} to
   * @param {string} text
   * @param {string} [room]
   */
  whisper(to, text, room) {
    return this.send(room ? { type: "private", room, to, text } : { type: "private", to, text });
  }

  /**
   * Join `room`; `joined` follows once the service confirms, `left` if it refuses.
   * @param {string} room
   * @returns {boolean} false when not connected, or already in the room
   */
  join(room) {
    if (this.#rooms.includes(room) || this.state !== "open") return false;
    this.#paced({ type: "join", room });
    this.#addRoom(room);
    return true;
  }

  /**
   * Leave `room`: forgotten at once, whatever the service answers.
   * @param {string} room
   */
  leave(room) {
    if (this.state !== "open") return false;
    this.#paced({ type: "leave", room }); // after its join, if that is still waiting
    this.#forget(room);
    this.emit("left", { room });
    return true;
  }

  /** Ask which rooms have members; a `rooms` event answers. */
  listRooms() {
    return this.send({ type: "rooms" });
  }

  /**
   * Ask for a room's events after `since` (without it: the last ones kept).
   * @param {string} room
   * @param {number} [since]
   */
  history(room, since) {
    if (this.state !== "open") return false;
    this.#paced(since === undefined ? { type: "history", room } : { type: "history", room, since });
    if (this.#rooms.includes(room)) this.#expect(room, since ?? null);
    return true;
  }

  #url(path, url) {
    const room = this.#rooms[0] ?? this.#firstRoom;
    const since = this.#seqs.get(room)?.last;
    return url(path, { nick: this.nick || null, room, since: since ?? null });
  }

  opened() {
    this.#resumed = this.#welcomed;
    this.#welcomed = false;
    this.#expected.clear();
    this.#outbox = [];
    this.#tokens = PACE_BURST;
    this.#refilled = performance.now();
    if (this.#rooms.length === 0) this.#rooms.push(this.#firstRoom);
    const [first, ...others] = this.#rooms;
    if (!this.#seqs.has(first)) this.#seqs.set(first, new SeqTracker());
    this.#joining = [first];
    this.#expect(first, this.#seqs.get(first)?.last ?? null);
    for (const room of others) {
      // There is no `since` for a join: its history is of the last events, then ours.
      this.#paced({ type: "join", room });
      this.#joining.push(room);
      this.#expect(room, null);
      const since = this.#seqs.get(room)?.last;
      if (since !== undefined) this.history(room, since);
    }
  }

  received(message) {
    if (message === null) return;
    const { type, room } = message;
    if (ROOM_EVENTS.has(type)) {
      this.#roomEvent(message, false);
    } else if (type === "welcome") {
      this.#welcome(message);
    } else if (type === "history") {
      this.#history(room, Array.isArray(message.events) ? message.events : []);
    } else if (type === "resync") {
      this.#seqs.get(room)?.skipTo(message.from - 1);
      this.emit("resync", { room, from: message.from });
    } else if (type === "members") {
      if (!this.#rooms.includes(room)) return;
      this.#members.set(room, new Set(message.members));
      this.emit("members", { room, members: this.members(room) });
      this.#confirm(room);
    } else if (type === "rooms" || type === "private") {
      this.emit(type, message);
    } else if (type === "error") {
      this.#error(message);
    }
  }

  #welcome(message) {
    this.#welcomed = true;
    this.nick = message.nick;
    const asked = this.#joining[0];
    if (message.room !== asked && asked !== undefined) {
      // The room asked was not a valid name: the service joined `lobby` instead.
      this.#forget(asked);
      this.#seqs.set(message.room, new SeqTracker());
      this.#rooms.unshift(message.room);
      this.#joining.unshift(message.room);
      this.#expect(message.room, null);
    }
    this.emit("welcome", message);
  }

  #roomEvent(event, fromHistory) {
    const { room, seq } = event;
    const seqs = this.#seqs.get(room);
    if (!seqs || !Number.isInteger(seq) || !seqs.see(seq)) return false;
    if (!fromHistory) this.#presence(event);
    this.emit("event", { event, history: fromHistory });
    if (!fromHistory) this.#fillGap(room);
    return true;
  }

  #presence(event) {
    const members = this.#members.get(event.room);
    if (!members || event.type === "message") return;
    if (event.type === "join") members.add(event.nick);
    else members.delete(event.nick);
    this.emit("members", { room: event.room, members: this.members(event.room) });
  }

  #history(room, events) {
    const seqs = this.#seqs.get(room);
    if (!seqs) return;
    const since = this.#expected.get(room)?.shift()?.since;
    if (since === null && events.length) seqs.start(events[0].seq - 1);
    const fresh = events.filter((event) => event.room === room && this.#roomEvent(event, true));
    if (since !== null && since !== undefined) {
      // The service sent every event it keeps after `since`: any hole below the last one
      // can never be filled.
      const top = events.length ? events.at(-1).seq : seqs.nextSeen === undefined ? undefined : seqs.nextSeen - 1;
      if (top !== undefined && seqs.gap && seqs.last < top) {
        const from = seqs.nextSeen;
        seqs.skipTo(top);
        this.emit("resync", { room, from });
      }
    }
    this.emit("history", { room, events: fresh });
    this.#fillGap(room);
  }

  /** Ask for the history since the last seq seen in order, unless a history is on its way. */
  #fillGap(room) {
    const seqs = this.#seqs.get(room);
    const expected = this.#expected.get(room) ?? [];
    // A request dropped (as rate_limited, say) is never answered: stop waiting for it.
    while (expected.length && performance.now() - expected[0].at > HISTORY_TIMEOUT) expected.shift();
    if (seqs?.gap && !expected.length) this.history(room, seqs.last);
  }

  /** Send a join, leave or history request in its turn (see PACE_MS). */
  #paced(message) {
    this.#outbox.push(message);
    this.#drain();
  }

  #drain() {
    const now = performance.now();
    this.#tokens = Math.min(PACE_BURST, this.#tokens + (now - this.#refilled) / PACE_MS);
    this.#refilled = now;
    while (this.#outbox.length && this.#tokens >= 1) {
      // Not sent: the connection dropped, and the next one resumes from scratch.
      if (!this.connection.send(this.#outbox.shift())) this.#outbox = [];
      this.#tokens -= 1;
    }
    if (this.#outbox.length && !this.#pacer) {
      this.#pacer = setTimeout(() => {
        this.#pacer = 0;
        this.#drain();
      }, PACE_MS);
    }
  }

  #error(message) {
    const { code } = message;
    if (JOIN_REFUSED.has(code) && this.#joining.length) {
      const room = this.#joining.shift();
      if (this.#resumed && code === "nick_taken") {
        // The connection that dropped still holds the nickname until the service sweeps
        // it (within seconds, docs/MESSAGES.md "Presence"): try again later.
        this.#joining.unshift(room);
        this.connection.reconnect(`${this.nick} is still taken by the connection that dropped`);
        return;
      }
      this.#forget(room);
      this.emit("left", { room });
    } else if (UNDELIVERED.has(code) && !this.#welcomed) {
      // The service never heard of this connection: it is of no use.
      this.connection.reconnect(describeError(code));
    }
    this.emit("error", { code, message: message.message ?? "", text: describeError(code) });
  }

  #addRoom(room) {
    this.#rooms.push(room);
    this.#joining.push(room);
    this.#seqs.set(room, this.#seqs.get(room) ?? new SeqTracker());
    this.#expect(room, null);
  }

  #confirm(room) {
    const index = this.#joining.indexOf(room);
    if (index < 0) return;
    this.#joining.splice(index, 1);
    this.connection.resetBackoff();
    this.emit("joined", { room });
  }

  #expect(room, since) {
    const expected = this.#expected.get(room) ?? [];
    expected.push({ since, at: performance.now() });
    this.#expected.set(room, expected);
  }

  #forget(room) {
    this.#rooms = this.#rooms.filter((r) => r !== room);
    this.#joining = this.#joining.filter((r) => r !== room);
    this.#seqs.delete(room);
    this.#members.delete(room);
    this.#expected.delete(room);
  }
}

/**
 * A stock-quote connection at `/stocks` (docs/MESSAGES.md, "Stock quotes") that subscribes
 * again after each drop; the snapshot that answers refreshes the quotes.
 *
 * Events (CustomEvent, the payload in `detail`):
 * - `state`: as {@link Connection}'s;
 * - `symbols`: the `symbols` message (every symbol quoted, with names), asked on connecting;
 * - `subscribed`: `{symbols}`: every symbol received now, sorted;
 * - `snapshot`: `{quotes}`: the latest quote of each symbol just subscribed to;
 * - `quote`: `{quote, skipped}` for each quote newer than the last of its symbol;
 *   `skipped` counts the ticks this client did not get (conflated, or lost while the
 *   gateway started listening): the price is the latest anyway;
 * - `error`: `{code, message, text}`.
 */
export class StocksClient extends ServiceClient {
  /** @type {Set<string>} */
  #wanted;
  #all = false;
  #pending = 0;
  /** @type {Map<string, {seq: number, ts: number}>} */
  #last = new Map();

  /**
   * @param {object} [options]
   * @param {string[]} [options.symbols] to subscribe to on connecting; `["*"]` for all
   * @param {string} [options.path] the gateway's stocks path (default `/stocks`)
   * @param {(path: string, params: object) => string} [options.url] builds the URL
   * @param {object} [options.connection] options of the {@link Connection}
   */
  constructor({ symbols = [], path = "/stocks", url = gatewayUrl, connection = {} } = {}) {
    super(() => url(path, {}), connection);
    const cleaned = cleanSymbols(symbols);
    this.#all = cleaned.includes("*");
    this.#wanted = new Set(cleaned.filter((s) => s !== "*"));
  }


  /** The symbols to receive, as asked so far: `["*"]` for every one. */
  get symbols() {
    return this.#all ? ["*"] : [...this.#wanted].sort();
  }

  /**
   * Receive these symbols' quotes (remembered, and asked again after a drop).
   * @param {string[]} symbols such as `["MSFT", "aapl"]`, or `["*"]` for all
   * @returns {boolean} false when not connected (they are asked on connecting)
   */
  subscribe(symbols) {
    const cleaned = cleanSymbols(symbols);
    if (cleaned.includes("*")) this.#all = true;
    for (const s of cleaned) if (s !== "*") this.#wanted.add(s);
    return this.#request("subscribe", cleaned);
  }

  /**
   * Stop receiving these symbols' quotes; `["*"]` for all.
   * @param {string[]} symbols
   */
  unsubscribe(symbols) {
    const cleaned = cleanSymbols(symbols);
    if (cleaned.includes("*")) this.#wanted.clear();
    this.#all = false;
    for (const s of cleaned) this.#wanted.delete(s);
    return this.#request("unsubscribe", cleaned);
  }

  /** Ask for the symbols quoted; a `symbols` event answers. */
  list() {
    return this.send({ type: "list" });
  }

  #request(type, symbols) {
    if (!symbols.length || !this.send({ type, symbols })) return false;
    this.#pending += 1;
    return true;
  }

  opened() {
    this.#pending = 0;
    this.list();
    const symbols = this.symbols;
    if (symbols.length) this.#request("subscribe", symbols);
  }

  received(message) {
    if (message === null) return;
    switch (message.type) {
      case "subscribed":
        this.#pending = Math.max(0, this.#pending - 1);
        // The service's answer is the truth (unknown symbols dropped), unless newer
        // requests are still on their way.
        if (!this.#pending && !this.#all) this.#wanted = new Set(message.symbols);
        this.connection.resetBackoff();
        this.emit("subscribed", { symbols: message.symbols });
        break;
      case "snapshot":
        for (const q of message.quotes) this.#last.set(q.symbol, { seq: q.seq, ts: q.ts });
        this.emit("snapshot", { quotes: message.quotes });
        break;
      case "quote":
        this.#quote(message);
        break;
      case "symbols":
        this.emit("symbols", message);
        break;
      case "error":
        if (UNDELIVERED.has(message.code)) this.connection.reconnect(describeError(message.code));
        this.emit("error", { code: message.code, message: message.message ?? "", text: describeError(message.code) });
        break;
    }
  }

  #quote(quote) {
    const last = this.#last.get(quote.symbol);
    let skipped = 0;
    if (last !== undefined) {
      if (quote.seq <= last.seq) {
        // An older or repeated tick, unless the service restarted and counts from 1 again:
        // then its ticks are newer than the last one seen.
        if (quote.ts <= last.ts) return;
      } else {
        skipped = quote.seq - last.seq - 1;
      }
    }
    this.#last.set(quote.symbol, { seq: quote.seq, ts: quote.ts });
    this.emit("quote", { quote, skipped });
  }
}

/**
 * Symbols as the service reads them: upper-cased, without blanks or repeats.
 * @param {string[]} symbols
 * @returns {string[]}
 */
export function cleanSymbols(symbols) {
  return [...new Set(symbols.map((s) => s.trim().toUpperCase()).filter(Boolean))];
}

/**
 * Split a line such as `msft, AAPL ibm` into symbols.
 * @param {string} line
 * @returns {string[]}
 */
export function parseSymbols(line) {
  return cleanSymbols(line.split(/[\s,]+/));
}
