// The WebSocket link to the server: sends actions, hands events to the page, answers
// request/response pairs by requestId, and reconnects with backoff when the socket drops.

/** Pauses before reconnect attempts 1, 2, 3…, in milliseconds (the last one repeats). */
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

/** How long a request waits for its answer. */
const REQUEST_TIMEOUT_MS = 20000;

/** A protocol `error` event as a JavaScript error: `code` and the server's message. */
export class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

let sequence = 0;

/** A fresh requestId with a readable prefix. */
export function requestId(prefix) {
  sequence += 1;
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}-${sequence}-${random}`;
}

/**
 * One logical connection that survives dropped sockets.
 *
 * `onEvent(event)` gets every event that is not the answer to a `request()`;
 * `onStatus({state, attempt, delayMs})` reports `connecting`, `open` and `waiting`;
 * `onOpen(isReconnect)` runs after each successful (re)connect.
 */
export class Connection {
  constructor(url, { onEvent, onStatus, onOpen }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onOpen = onOpen;
    this.socket = null;
    this.pending = new Map();
    this.attempt = 0;
    this.opened = false;
    this.closed = false;
    this.timer = null;
  }

  /** Opens the first socket. */
  start() {
    this.connect();
  }

  /** Closes for good (no reconnect). */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "closed by the page");
  }

  /** Whether a socket is open right now. */
  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    this.onStatus({ state: "connecting", attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      const isReconnect = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.onStatus({ state: "open" });
      this.onOpen(isReconnect);
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      for (const { reject, timer } of this.pending.values()) {
        clearTimeout(timer);
        reject(new ProtocolError("CONNECTION_LOST", "The connection to the server was lost."));
      }
      this.pending.clear();
      if (!this.closed) this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delayMs = Math.round(base * (1 + Math.random() * 0.2));
    this.attempt += 1;
    this.onStatus({ state: "waiting", attempt: this.attempt, delayMs });
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  receive(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (event === null || typeof event !== "object") return;
    const waiting = event.requestId !== undefined && this.pending.get(event.requestId);
    const answers = event.type === "immediate_response" || event.type === "pong" || event.type === "error";
    if (waiting && answers) {
      this.pending.delete(event.requestId);
      clearTimeout(waiting.timer);
      if (event.type === "error") {
        waiting.reject(new ProtocolError(event.error?.code ?? "ERROR", event.error?.message ?? "Request failed."));
      } else {
        waiting.resolve(event);
      }
      return;
    }
    this.onEvent(event);
  }

  /** Sends one action; false when no socket is open. */
  send(frame) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Sends an action and resolves with its answer (rejects with a ProtocolError). */
  request(frame) {
    const id = frame.requestId ?? requestId(frame.action);
    const withId = { ...frame, requestId: id };
    return new Promise((resolve, reject) => {
      if (!this.send(withId)) {
        reject(new ProtocolError("CONNECTION_LOST", "Not connected to the server."));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError("TIMEOUT", "The server did not answer in time."));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }
}
