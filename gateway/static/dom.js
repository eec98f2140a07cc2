/**
 * Small DOM helpers for the page. Text always goes in as text nodes, never as HTML: what
 * comes from the network cannot inject markup.
 * @module dom
 */

/**
 * Create an element.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs] attributes; `class`, `dataset` (an object) and
 *   `on<event>` (a listener) are special; null, undefined and false are left out
 * @param {...(Node|string|number|null|undefined|false)} children strings become text nodes
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** @param {string} id */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dated = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/**
 * A `<time>` for a Unix time in seconds: the time of day, and the date too if not today.
 * @param {number} ts
 */
export function timeElement(ts) {
  const date = new Date(ts * 1000);
  const today = date.toDateString() === new Date().toDateString();
  return h(
    "time",
    { datetime: date.toISOString(), title: dated.format(date) },
    today ? clock.format(date) : dated.format(date),
  );
}

const announcements = 5;

/**
 * Have screen readers say `text` (through the page's polite live region).
 * @param {string} text
 */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.append(h("p", {}, text));
  while (region.childElementCount > announcements) region.firstElementChild?.remove();
}

/**
 * Show an error in a list: its code and a readable sentence, with the server's own words.
 * The same error again only counts up.
 * @param {HTMLElement} list
 * @param {{code: string, text: string, message?: string}} error
 * @param {number} [keep] how many errors to keep shown
 */
export function showError(list, { code, text, message = "" }, keep = 4) {
  const last = /** @type {HTMLElement|null} */ (list.lastElementChild);
  if (last && last.dataset.code === code && last.dataset.message === message) {
    const count = Number(last.dataset.count) + 1;
    last.dataset.count = String(count);
    last.querySelector(".count").textContent = ` (×${count})`;
    return;
  }
  list.append(
    h(
      "li",
      { class: "error", dataset: { code, message, count: "1" } },
      h("code", { class: "code" }, code),
      h("span", { class: "text" }, text, h("span", { class: "count" })),
      h("button", { type: "button", class: "dismiss small", "aria-label": `Dismiss the ${code} error`, onclick: (e) => e.currentTarget.parentElement.remove() }, "×"),
      message ? h("small", { class: "detail" }, `Server: ${message}`) : null,
    ),
  );
  while (list.childElementCount > keep) list.firstElementChild?.remove();
}

/** Reading and writing preferences, when the browser lets us. */
export const prefs = {
  /** @param {string} key */
  get(key) {
    try {
      return localStorage.getItem(`wslab.${key}`);
    } catch {
      return null;
    }
  },
  /** @param {string} key @param {string} value */
  set(key, value) {
    try {
      localStorage.setItem(`wslab.${key}`, value);
    } catch {
      // Storage may be disabled (private mode, policy): preferences just do not stick.
    }
  },
};

/**
 * Show a connection's state in a status line (and its "retry now" button).
 * @param {HTMLElement} status its `data-state` is set to the state
 * @param {HTMLElement} retry shown while waiting to reconnect
 * @param {{state: string, delay?: number, reason?: string}} detail a `state` event's detail
 * @param {string} connected the text once connected
 * @param {string} offline the text when not connected
 */
export function showState(status, retry, { state, delay, reason }, connected, offline) {
  status.dataset.state = state;
  retry.hidden = state !== "reconnecting";
  if (state === "open") status.textContent = connected;
  else if (state === "connecting") status.textContent = "connecting…";
  else if (state === "reconnecting") {
    const wait = delay === undefined ? "" : `, next try in ${(delay / 1000).toFixed(1)} s`;
    status.textContent = `reconnecting… (${reason ?? "the connection dropped"}${wait})`;
  } else status.textContent = offline;
}
