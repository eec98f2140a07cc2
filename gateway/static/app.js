/**
 * The page: the chat and the stock ticker, each on its own WebSocket to this host.
 * @module app
 */

import { ChatView } from "./chat.js";
import { TickerView } from "./ticker.js";

const chat = new ChatView();
const ticker = new TickerView();

// Back online: no need to wait for the next try.
addEventListener("online", () => {
  chat.client?.retryNow();
  ticker.client.retryNow();
});

// For the console and for tests: the views and their clients.
globalThis.wslab = { chat, ticker };
