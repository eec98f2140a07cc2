/**
 * The stock ticker: a {@link StocksClient} shown as a table of quotes, one row per symbol,
 * each with a sparkline, a flash on each move and a badge counting conflated quotes.
 * @module ticker
 */

import { StocksClient, parseSymbols } from "./wslab.js";
import { announce, byId, h, prefs, showError, showState } from "./dom.js";

/** What the ticker shows before the person picks: some large caps of 2010. */
const DEFAULT_SYMBOLS = ["MSFT", "AAPL", "GOOG", "IBM", "INTC"];
/** How many prices a sparkline draws. */
const SPARK_POINTS = 60;
/** How long a flash lasts, in milliseconds. */
const FLASH_MS = 700;
const SVG = "http://www.w3.org/2000/svg";

const reducedMotion = globalThis.matchMedia?.("(prefers-reduced-motion: reduce)");

export class TickerView {
  /** @type {Map<string, Row>} */
  rows = new Map();
  /** @type {Map<string, string>} symbol → company name */
  names = new Map();
  /** @type {Map<string, {quote: object, skipped: number}>} quotes waiting for the next frame */
  pending = new Map();
  frame = 0;

  constructor() {
    this.el = Object.fromEntries(
      [
        "stocks-status", "stocks-retry", "subscribe-form", "symbols", "subscribe-all",
        "unsubscribe-all", "symbol-options", "stocks-errors", "quotes", "quotes-empty",
      ].map((id) => [id, byId(id)]),
    );
    this.body = this.el.quotes.tBodies[0];
    const saved = prefs.get("symbols");
    const client = new StocksClient({ symbols: saved === null ? DEFAULT_SYMBOLS : parseSymbols(saved) });
    this.client = client;
    const on = (type, handler) => client.addEventListener(type, (e) => handler(e.detail));
    on("state", (d) => this.state(d));
    on("symbols", (d) => this.symbols(d.symbols));
    on("subscribed", (d) => this.subscribed(d.symbols));
    on("snapshot", (d) => d.quotes.forEach((q) => this.row(q.symbol)?.update(q, 0, false)));
    on("quote", (d) => this.queue(d.quote, d.skipped));
    on("error", (d) => showError(this.el["stocks-errors"], d));

    const { el } = this;
    el["subscribe-form"].addEventListener("submit", (e) => {
      e.preventDefault();
      const symbols = parseSymbols(el.symbols.value);
      if (!symbols.length) return;
      this.send(() => client.subscribe(symbols));
      el.symbols.value = "";
    });
    el["subscribe-all"].addEventListener("click", () => this.send(() => client.subscribe(["*"])));
    el["unsubscribe-all"].addEventListener("click", () => this.send(() => client.unsubscribe(["*"])));
    el["stocks-retry"].addEventListener("click", () => client.retryNow());
    this.renderEmpty();
    client.connect();
  }

  /** Send a request; say so when it could not be (the client asks again on connecting). */
  send(request) {
    if (!request()) showError(this.el["stocks-errors"], { code: "offline", text: "Not connected: the change is made once the connection is back." });
  }

  state(detail) {
    const n = this.rows.size;
    showState(this.el["stocks-status"], this.el["stocks-retry"], detail, `connected · ${n} ${n === 1 ? "symbol" : "symbols"}`, "offline");
  }

  symbols(list) {
    for (const { symbol, name } of list) this.names.set(symbol, name);
    this.el["symbol-options"].replaceChildren(...list.map(({ symbol, name }) => h("option", { value: symbol, label: name })));
    for (const [symbol, row] of this.rows) row.name(this.names.get(symbol));
  }

  /** The rows follow the service's list of what this client receives (sorted). */
  subscribed(symbols) {
    const wanted = new Set(symbols);
    for (const [symbol, row] of this.rows) {
      if (!wanted.has(symbol)) {
        row.el.remove();
        this.rows.delete(symbol);
      }
    }
    let previous = null;
    for (const symbol of symbols) {
      let row = this.rows.get(symbol);
      if (!row) {
        row = new Row(symbol, this.names.get(symbol), () => this.send(() => this.client.unsubscribe([symbol])));
        this.rows.set(symbol, row);
      }
      if (previous) previous.el.after(row.el);
      else this.body.prepend(row.el);
      previous = row;
    }
    this.renderEmpty();
    prefs.set("symbols", this.client.symbols.join(" "));
    if (this.client.state === "open") this.state({ state: "open" });
    announce(`Receiving quotes for ${symbols.length} ${symbols.length === 1 ? "symbol" : "symbols"}`);
  }

  row(symbol) {
    return this.rows.get(symbol);
  }

  renderEmpty() {
    this.el["quotes-empty"].hidden = this.rows.size > 0;
  }

  /** Quotes come faster than frames: keep the latest of each symbol, draw once a frame. */
  queue(quote, skipped) {
    const waiting = this.pending.get(quote.symbol);
    // Every price goes in the sparkline, even one never drawn as the latest.
    this.rows.get(quote.symbol)?.remember(quote.price);
    this.pending.set(quote.symbol, { quote, skipped: skipped + (waiting?.skipped ?? 0) });
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    for (const { quote, skipped } of this.pending.values()) this.rows.get(quote.symbol)?.update(quote, skipped, true);
    this.pending.clear();
  }
}

/** One symbol's row: price, change, trend and the skipped-quotes badge. */
class Row {
  /** @type {number[]} */
  prices = [];
  price = undefined;
  skipped = 0;

  constructor(symbol, name, remove) {
    this.symbol = symbol;
    this.cells = {
      name: h("span", { class: "name" }),
      price: h("td", { class: "num price" }, "—"),
      change: h("td", { class: "num change" }, ""),
      pct: h("td", { class: "num pct" }, ""),
      move: h("span", { class: "move", "aria-hidden": "true" }, ""),
      moveText: h("span", { class: "visually-hidden" }, ""),
      line: document.createElementNS(SVG, "polyline"),
      badge: h("span", { class: "badge skipped", "data-testid": "conflation", hidden: true }),
    };
    const spark = document.createElementNS(SVG, "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", "0 0 100 24");
    spark.setAttribute("preserveAspectRatio", "none");
    spark.setAttribute("aria-hidden", "true");
    spark.append(this.cells.line);
    const c = this.cells;
    this.el = h(
      "tr",
      { dataset: { symbol, seq: "", skipped: "0" } },
      h("th", { scope: "row" }, h("span", { class: "symbol" }, symbol), c.name),
      c.price,
      c.change,
      c.pct,
      h("td", { class: "trend" }, h("div", { class: "trend-box" }, c.move, c.moveText, spark, c.badge)),
      h("td", {}, h("button", { type: "button", class: "small remove", "aria-label": `Stop quotes of ${symbol}`, onclick: remove }, "×")),
    );
    this.name(name);
  }

  name(name) {
    this.cells.name.textContent = name ?? "";
    this.el.title = name ?? "";
  }

  remember(price) {
    this.prices.push(price);
    if (this.prices.length > SPARK_POINTS) this.prices.shift();
  }

  /**
   * Show a quote.
   * @param {{price: number, change: number, change_pct: number, seq: number}} quote
   * @param {number} skipped ticks this client did not get before this one
   * @param {boolean} live a tick (flash, and already in the sparkline), not a snapshot
   */
  update(quote, skipped, live) {
    const c = this.cells;
    if (!live) this.remember(quote.price);
    const move = this.price === undefined || quote.price === this.price ? "flat" : quote.price > this.price ? "up" : "down";
    this.price = quote.price;
    c.price.textContent = quote.price.toFixed(2);
    c.change.textContent = signed(quote.change);
    c.pct.textContent = `${signed(quote.change_pct)}%`;
    for (const cell of [c.change, c.pct]) cell.dataset.sign = quote.change > 0 ? "up" : quote.change < 0 ? "down" : "flat";
    this.el.dataset.seq = String(quote.seq);
    if (move !== "flat") {
      this.el.dataset.move = move;
      c.move.textContent = move === "up" ? "▲" : "▼";
      c.moveText.textContent = move === "up" ? "up" : "down";
      if (live && !reducedMotion?.matches) flash(c.price, move);
    }
    if (skipped > 0) {
      this.skipped += skipped;
      this.el.dataset.skipped = String(this.skipped);
      c.badge.hidden = false;
      c.badge.textContent = `skipped ${this.skipped}`;
      c.badge.title = `${this.skipped} quotes of ${this.symbol} were skipped (conflated): the price shown is the latest`;
    }
    this.draw();
  }

  draw() {
    const { prices } = this;
    const low = Math.min(...prices);
    const span = Math.max(...prices) - low || 1;
    // Stretched over the width: one price draws a flat line, many a trend.
    const points = prices.length > 1 ? prices : [prices[0], prices[0]];
    const step = 100 / (points.length - 1);
    this.cells.line.setAttribute(
      "points",
      points.map((p, i) => `${(i * step).toFixed(1)},${(22 - ((p - low) / span) * 20).toFixed(1)}`).join(" "),
    );
  }
}

function signed(n) {
  return `${n > 0 ? "+" : ""}${n.toFixed(2)}`;
}

/** The flash colours, read from the style sheet (they change with the colour scheme). */
let colors = null;
globalThis.matchMedia?.("(prefers-color-scheme: dark)").addEventListener("change", () => (colors = null));

function flash(cell, move) {
  if (!colors) {
    const style = getComputedStyle(document.documentElement);
    colors = { up: style.getPropertyValue("--flash-up").trim(), down: style.getPropertyValue("--flash-down").trim() };
  }
  cell.animate([{ backgroundColor: colors[move] }, { backgroundColor: "transparent" }], { duration: FLASH_MS, easing: "ease-out" });
}
