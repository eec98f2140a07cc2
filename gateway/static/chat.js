/**
 * The chat panel: a {@link ChatClient} shown as rooms, a conversation and its members.
 * @module chat
 */

import { ChatClient, DEFAULT_ROOM, NAME_PATTERN } from "./wslab.js";
import { announce, byId, h, prefs, showError, showState, timeElement } from "./dom.js";

/** How many entries a room's log keeps; older ones are removed from the top. */
const MAX_LOG = 500;
/** How close to the bottom (px) a log must be scrolled to follow new messages. */
const FOLLOW_SLACK = 48;
/**
 * Errors after which the text just sent is put back in the message box, to send again, if
 * they come within RESTORE_MS of it (errors do not say which message they answer).
 */
const RESTORE_ON = new Set(["too_long", "rate_limited", "unavailable", "bus_down", "overloaded", "no_such_member"]);
const RESTORE_MS = 3000;

export class ChatView {
  /** @type {ChatClient|null} */
  client = null;
  /** The room shown, where the message box speaks. */
  current = null;
  /** @type {Map<string, HTMLOListElement>} each room's log */
  logs = new Map();
  /** @type {Map<string, number>} unread messages of rooms not shown */
  unread = new Map();
  /** @type {Map<string, number>} member counts from the last `rooms` answer */
  counts = new Map();
  /** The room the person asked to join, shown once joined. */
  switchTo = null;
  lastSent = "";
  lastSentAt = 0;

  constructor() {
    this.el = Object.fromEntries(
      [
        "chat-status", "chat-retry", "login", "nick", "first-room", "connect", "disconnect",
        "chat-errors", "my-rooms", "join-form", "room", "join", "refresh-rooms", "room-list",
        "room-title", "messages", "messages-empty", "say-form", "say-to", "say", "send",
        "members-heading", "members",
      ].map((id) => [id, byId(id)]),
    );
    const { el } = this;
    el.nick.value = prefs.get("nick") ?? "";
    el.login.addEventListener("submit", (e) => {
      e.preventDefault();
      this.connect();
    });
    el.disconnect.addEventListener("click", () => this.disconnect());
    el["chat-retry"].addEventListener("click", () => this.client?.retryNow());
    el["join-form"].addEventListener("submit", (e) => {
      e.preventDefault();
      if (this.join(el.room.value.trim())) el.room.value = "";
    });
    el["refresh-rooms"].addEventListener("click", () => this.client?.listRooms());
    el["say-form"].addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.setConnected(false);
  }

  /** Connect with the nickname and room of the form. */
  connect() {
    const { el } = this;
    const nick = el.nick.value.trim();
    const room = el["first-room"].value.trim() || DEFAULT_ROOM;
    if ((nick && !NAME_PATTERN.test(nick)) || !NAME_PATTERN.test(room)) {
      this.error("invalid_name", "Nicknames and rooms are 1 to 32 letters, digits, _ or -.");
      (nick && !NAME_PATTERN.test(nick) ? el.nick : el["first-room"]).focus();
      return;
    }
    if (nick) prefs.set("nick", nick);
    this.reset();
    const client = new ChatClient({ nick, room });
    this.client = client;
    const on = (type, handler) => client.addEventListener(type, (e) => this.client === client && handler(e.detail));
    on("state", (d) => this.state(d));
    on("welcome", (d) => this.welcome(d));
    on("event", (d) => this.roomEvent(d.event, d.history));
    on("history", (d) => d.events.length && announce(`${d.events.length} earlier messages in ${d.room}`));
    on("members", (d) => this.members(d.room));
    on("rooms", (d) => this.roomList(d.rooms));
    on("joined", (d) => this.joined(d.room));
    on("left", (d) => this.left(d.room));
    on("private", (d) => this.privateMessage(d));
    on("resync", (d) => this.resync(d.room, d.from));
    on("error", (d) => this.serverError(d));
    this.ensureLog(room);
    this.show(room);
    this.setConnected(true);
    client.connect();
  }

  disconnect() {
    this.client?.close();
    this.client = null;
    showState(this.el["chat-status"], this.el["chat-retry"], { state: "closed" }, "", "offline: choose a nickname, then connect");
    this.setConnected(false);
    this.el.nick.focus();
  }

  /** Forget the conversation of an earlier connection. */
  reset() {
    for (const log of this.logs.values()) log.remove();
    this.logs.clear();
    this.unread.clear();
    this.counts.clear();
    this.current = null;
    this.el["messages-empty"].hidden = false;
    this.renderRooms();
    this.members(null);
  }

  /** @param {boolean} on a connection is wanted (connected or reconnecting) */
  setConnected(on) {
    const { el } = this;
    for (const id of ["nick", "first-room", "connect"]) el[id].disabled = on;
    for (const id of ["disconnect", "room", "join", "refresh-rooms", "say", "send", "say-to"]) el[id].disabled = !on;
  }

  state(detail) {
    const nick = this.client?.nick;
    const where = this.current ? ` in ${this.current}` : "";
    // The status line is a live region: screen readers hear each change.
    showState(this.el["chat-status"], this.el["chat-retry"], detail, `connected as ${nick || "…"}${where}`, "offline: choose a nickname, then connect");
  }

  welcome({ nick }) {
    this.el.nick.value = nick;
    this.refreshStatus();
    this.client?.listRooms();
  }

  refreshStatus() {
    if (this.client?.state === "open") this.state({ state: "open" });
  }

  /**
   * @param {string} room
   * @returns {boolean} true if the join was asked (or the room is shown, already joined)
   */
  join(room) {
    if (!NAME_PATTERN.test(room)) {
      this.error("invalid_name", "Room names are 1 to 32 letters, digits, _ or -.");
      this.el.room.focus();
      return false;
    }
    if (this.client?.rooms.includes(room)) {
      this.show(room);
      return true;
    }
    if (!this.client?.join(room)) {
      this.error("offline", "Not connected: the room was not joined.");
      return false;
    }
    this.switchTo = room;
    this.ensureLog(room);
    this.renderRooms();
    return true;
  }

  /** @param {string} room */
  leave(room) {
    if (!this.client?.leave(room)) this.error("offline", "Not connected: the room was not left.");
  }

  /** A join went through: the person's own (show the room), or one resumed. */
  joined(room) {
    if (this.switchTo === room) {
      this.switchTo = null;
      this.show(room);
      this.client?.listRooms();
    }
    this.renderRooms();
  }

  left(room) {
    this.logs.get(room)?.remove();
    this.logs.delete(room);
    this.unread.delete(room);
    if (this.current === room) {
      const rooms = this.client?.rooms ?? [];
      this.current = null;
      this.show(rooms.at(-1) ?? null);
    }
    this.renderRooms();
    this.client?.listRooms();
  }

  /** Show `room`'s conversation and members, and speak there. */
  show(room) {
    this.current = room;
    for (const [name, log] of this.logs) log.hidden = name !== room;
    this.el["messages-empty"].hidden = room !== null;
    this.el["room-title"].textContent = room ?? "No room";
    if (room) {
      this.unread.delete(room);
      this.scrollToEnd(this.logs.get(room));
    }
    this.renderRooms();
    this.members(room);
    this.refreshStatus();
  }

  /** @param {string} room */
  ensureLog(room) {
    let log = this.logs.get(room);
    if (!log) {
      log = h("ol", { class: "log", role: "log", "aria-live": "off", "aria-label": `Messages in ${room}`, tabindex: "0", dataset: { room } });
      log.hidden = room !== this.current;
      this.logs.set(room, log);
      this.el.messages.append(log);
    }
    return log;
  }

  /** A join, message or leave, new to this page. */
  roomEvent(event, history) {
    const { room, seq, nick, type } = event;
    const log = this.logs.get(room);
    if (!log) return;
    const me = nick === this.client?.nick;
    const body =
      type === "message"
        ? [h("span", { class: "nick" }, nick), h("span", { class: "text" }, event.text)]
        : [h("span", { class: "event-text" }, `${nick} ${type === "join" ? "joined" : "left"} ${room}`)];
    const item = h(
      "li",
      { class: `entry ${type}${me ? " mine" : ""}`, dataset: { seq: String(seq), kind: history ? "history" : "live", type, room, nick } },
      timeElement(event.ts),
      history ? h("span", { class: "tag", title: "Sent before you (re)joined" }, "history") : null,
      ...body,
    );
    this.insert(log, item, seq);
    if (history) return;
    if (room !== this.current) {
      if (type === "message") this.unread.set(room, (this.unread.get(room) ?? 0) + 1);
      this.renderRooms();
    } else if (!me) {
      announce(type === "message" ? `${nick}: ${event.text}` : `${nick} ${type === "join" ? "joined" : "left"}`);
    }
  }

  privateMessage(message) {
    const room = this.logs.has(message.room) ? message.room : this.current;
    const log = room && this.logs.get(room);
    if (!log) return;
    const mine = message.from === this.client?.nick;
    const who = mine ? `you → ${message.to}` : `${message.from} → you`;
    this.insert(
      log,
      h(
        "li",
        { class: "entry private", dataset: { kind: "live", type: "private", room: message.room, nick: message.from } },
        timeElement(message.ts),
        h("span", { class: "tag private-tag" }, "private"),
        h("span", { class: "nick" }, who),
        h("span", { class: "text" }, message.text),
      ),
    );
    if (!mine) announce(`Private message from ${message.from}: ${message.text}`);
  }

  resync(room, from) {
    const log = this.logs.get(room);
    if (!log) return;
    const text = `Some messages in ${room} were lost while you were away: the conversation resumes at message ${from}.`;
    this.insert(log, h("li", { class: "entry notice", dataset: { kind: "notice", type: "resync", room } }, text), from - 0.5);
    announce(text);
  }

  /**
   * Put an entry in a log in seq order (entries without seq: at the end, as they come).
   * @param {HTMLElement} log
   * @param {HTMLElement} item
   * @param {number} [seq]
   */
  insert(log, item, seq) {
    const follow = log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_SLACK;
    let after = null;
    let latest = true;
    if (seq !== undefined) {
      for (let el = log.lastElementChild; el; el = el.previousElementSibling) {
        if (!("seq" in el.dataset) && !el.dataset.order) continue;
        if (Number(el.dataset.seq ?? el.dataset.order) < seq) {
          after = el;
          break;
        }
        latest = false;
      }
      if (item.dataset.seq === undefined) item.dataset.order = String(seq);
    }
    if (seq === undefined || latest) log.append(item);
    else if (after) after.after(item);
    else log.prepend(item);
    while (log.childElementCount > MAX_LOG) log.firstElementChild?.remove();
    if (follow && !log.hidden) this.scrollToEnd(log);
  }

  scrollToEnd(log) {
    if (log) log.scrollTop = log.scrollHeight;
  }

  /** Show the members of `room` (or nobody), and offer them in the "To" list. */
  members(room) {
    const { el } = this;
    if (room !== this.current && room !== null) {
      this.renderRooms();
      return;
    }
    const nicks = room && this.client ? this.client.members(room) : [];
    el["members-heading"].textContent = room ? `In ${room} (${nicks.length})` : "Members";
    el.members.replaceChildren(
      ...nicks.map((nick) => {
        const me = nick === this.client?.nick;
        return h(
          "li",
          { dataset: { nick } },
          h("span", { class: "nick" }, nick),
          me ? h("span", { class: "you" }, " (you)") : null,
          me ? null : h("button", { type: "button", class: "small", "aria-label": `Send a private message to ${nick}`, onclick: () => this.whisperTo(nick) }, "Private"),
        );
      }),
    );
    const to = el["say-to"];
    const chosen = to.value;
    to.replaceChildren(
      h("option", { value: "" }, "everyone"),
      ...nicks.filter((n) => n !== this.client?.nick).map((n) => h("option", { value: n }, n)),
    );
    to.value = nicks.includes(chosen) ? chosen : "";
    this.renderRooms();
  }

  whisperTo(nick) {
    this.el["say-to"].value = nick;
    this.el.say.focus();
  }

  /** The rooms joined, with their member counts, unread counts and a Leave button. */
  renderRooms() {
    const client = this.client;
    const rooms = client ? client.rooms : [];
    this.el["my-rooms"].replaceChildren(
      ...rooms.map((room) => {
        const count = client.members(room).length;
        const unread = this.unread.get(room) ?? 0;
        return h(
          "li",
          { dataset: { room, members: String(count) } },
          h(
            "button",
            { type: "button", class: "room-switch", "aria-current": room === this.current ? "true" : null, onclick: () => this.show(room) },
            h("span", { class: "room-name" }, room),
            h("span", { class: "count", title: "members" }, count ? ` ${count}` : " …"),
            unread ? h("span", { class: "unread", dataset: { unread: String(unread) } }, ` ${unread} new`) : null,
          ),
          h("button", { type: "button", class: "small leave", "aria-label": `Leave ${room}`, onclick: () => this.leave(room) }, "Leave"),
        );
      }),
    );
    this.renderRoomList();
  }

  /** @param {{room: string, members: number}[]} rooms the `rooms` answer */
  roomList(rooms) {
    this.counts = new Map(rooms.map((r) => [r.room, r.members]));
    this.renderRoomList();
  }

  renderRoomList() {
    const joined = this.client ? this.client.rooms : [];
    const counts = new Map(this.counts);
    for (const room of joined) {
      const known = this.client.members(room).length;
      if (known) counts.set(room, known);
    }
    const names = [...counts.keys()].sort();
    this.el["room-list"].replaceChildren(
      ...names.map((room) => {
        const n = counts.get(room);
        const inIt = joined.includes(room);
        return h(
          "li",
          { dataset: { room, members: String(n) } },
          h("span", { class: "room-name" }, room),
          h("span", { class: "count" }, ` ${n} ${n === 1 ? "member" : "members"}`),
          h("button", { type: "button", class: "small", "aria-label": `${inIt ? "Show" : "Join"} ${room}`, onclick: () => this.join(room) }, inIt ? "Show" : "Join"),
        );
      }),
    );
  }

  /** The message box: a command, a private message, or something to say. */
  submit() {
    const { el } = this;
    const text = el.say.value;
    if (!text.trim()) return;
    if (text.startsWith("/") && !text.startsWith("//")) {
      if (this.command(text)) this.sent(text);
      return;
    }
    const said = text.startsWith("//") ? text.slice(1) : text;
    if (!this.current) {
      this.error("not_member", "You are in no room: join one first.");
      return;
    }
    const to = el["say-to"].value;
    const sent = to ? this.client?.whisper(to, said, this.current) : this.client?.say(said, this.current);
    if (!sent) {
      this.error("offline", "Not connected: your message was not sent. It is still in the box.");
      return;
    }
    this.sent(text);
  }

  /** Clear the message box, remembering what it held for a while. */
  sent(text) {
    this.lastSent = text;
    this.lastSentAt = performance.now();
    this.el.say.value = "";
  }

  /** @returns {boolean} true if the command was understood */
  command(line) {
    const [name, ...args] = line.slice(1).trim().split(/\s+/);
    switch (name) {
      case "join":
        return args.length === 1 && this.join(args[0]);
      case "leave": {
        const room = args[0] ?? this.current;
        if (room) this.leave(room);
        return Boolean(room);
      }
      case "rooms":
        return Boolean(this.client?.listRooms());
      case "msg": {
        const [to] = args;
        const text = line.slice(1).trim().slice("msg".length).trim().slice(to?.length ?? 0).trim();
        if (!to || !text || !this.current) break;
        if (this.client?.whisper(to, text, this.current)) return true;
        this.error("offline", "Not connected: your message was not sent.");
        return false;
      }
    }
    this.error("usage", "Commands: /join ROOM, /leave [ROOM], /rooms, /msg NICK TEXT; start with // to say a line beginning with /.");
    return false;
  }

  serverError(detail) {
    showError(this.el["chat-errors"], detail);
    const { el } = this;
    const recent = performance.now() - this.lastSentAt < RESTORE_MS;
    if (RESTORE_ON.has(detail.code) && recent && !el.say.value && this.lastSent) {
      el.say.value = this.lastSent;
      this.lastSent = "";
    }
    if (detail.code === "nick_taken" && this.client && this.client.rooms.length === 0) {
      // Refused on connecting: in no room. Let the person pick another name or room.
      this.disconnect();
      el.nick.select();
    }
  }

  /** An error found by the page itself, shown as the service's are. */
  error(code, text) {
    showError(this.el["chat-errors"], { code, text });
  }
}
