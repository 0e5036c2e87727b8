// The chat UI shared by the page (/) and the widget (/widget.js): a conversation log that
// streams the agent's reply, its reasoning (collapsed), tool calls and results, citations and
// approval prompts; a composer with Send and Stop; a connection status line. Every piece of
// text from the server or the model is inserted as text or through the safe Markdown renderer.

import { Connection, ProtocolError, requestId } from "./connection.js";
import { el } from "./dom.js";
import { Turn } from "./turn.js";

let instances = 0;

function readStorage(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeStorage(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // Storage can be unavailable (private mode, blocked third-party storage): the session then
    // lasts as long as the page.
  }
}

/**
 * The chat UI mounted into `root` (an element or a shadow root).
 *
 * Options: `wsUrl` (the /ws URL, with ?token= when there is one), `infoUrl` (/api/info),
 * `agentId` (optional), `title`, `headingLevel` (1 for the page, 2 in the widget).
 */
export class ChatView {
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.id = `soc-${++instances}`;
    this.sessionId = null;
    this.agentId = options.agentId || null;
    this.turns = new Map();
    this.running = null;
    this.gatewayMissing = false;
    this.historyShown = false;
    this.build();
  }

  build() {
    const heading = el(`h${this.options.headingLevel ?? 1}`, { className: "soc-title" },
      this.options.title ?? "Chat with the agent");
    this.status = el("p", { className: "soc-status", role: "status" }, "Connecting…");
    this.newChat = el("button", { type: "button", className: "soc-new", disabled: true }, "New chat");
    this.newChat.addEventListener("click", () => this.startOver());
    this.notice = el("div", { className: "soc-notice", role: "note", hidden: true });
    this.log = el("div", {
      className: "soc-log", role: "log", tabIndex: 0,
      "aria-live": "polite", "aria-label": "Conversation",
    });
    this.empty = el("p", { className: "soc-empty" },
      "Ask a question. The answer streams in as it is written; its sources are listed under it.");
    this.log.append(this.empty);
    const inputId = `${this.id}-input`;
    this.input = el("textarea", {
      id: inputId, className: "soc-input", rows: 2, maxLength: 10000,
      placeholder: "Type a message…", disabled: true,
    });
    this.input.setAttribute("aria-describedby", `${this.id}-hint`);
    this.sendButton = el("button", { type: "submit", className: "soc-send", disabled: true }, "Send");
    this.stopButton = el("button", { type: "button", className: "soc-stop", hidden: true }, "Stop");
    this.stopButton.addEventListener("click", () => this.stop());
    this.form = el("form", { className: "soc-composer" },
      el("label", { className: "soc-label", htmlFor: inputId }, "Message"),
      this.input,
      el("div", { className: "soc-actions" }, this.sendButton, this.stopButton),
      el("p", { className: "soc-hint", id: `${this.id}-hint` },
        "Enter sends, Shift+Enter adds a line, Escape stops the answer."));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      } else if (event.key === "Escape" && this.running) {
        event.preventDefault();
        this.stop();
      }
    });
    this.input.addEventListener("input", () => this.updateControls());
    this.container = el("section", { className: "soc", "aria-label": this.options.title ?? "Chat" },
      el("header", { className: "soc-head" }, heading, this.status, this.newChat),
      this.notice, this.log, this.form);
    this.root.append(this.container);
  }

  /** Loads the server facts, then connects. */
  async start() {
    try {
      const response = await fetch(this.options.infoUrl, { credentials: "omit" });
      if (response.ok) this.applyInfo(await response.json());
    } catch {
      // The WebSocket reports an unreachable server on its own.
    }
    this.connection = new Connection(this.options.wsUrl, {
      onEvent: (event) => this.onEvent(event),
      onStatus: (status) => this.onStatus(status),
      onOpen: (isReconnect) => this.onOpen(isReconnect),
    });
    this.connection.start();
  }

  /** Closes the connection for good. */
  close() {
    this.connection?.close();
  }

  applyInfo(info) {
    this.info = info;
    if (!this.agentId) this.agentId = info.defaultAgentId;
    const agent = (info.agents ?? []).find((a) => a.id === this.agentId);
    if (agent && !this.options.title) this.container.querySelector(".soc-title").textContent = agent.name;
    this.gatewayMissing = info.gatewayConfigured === false;
    if (this.gatewayMissing) {
      this.notice.replaceChildren(
        el("strong", {}, "No model gateway is configured, so the agent cannot answer yet. "),
        "Restart the server with ",
        el("code", {}, "SMOOAI_GATEWAY_URL"),
        " set to an OpenAI-compatible endpoint, for example a local Ollama:",
        el("code", { className: "soc-command" },
          "SMOOAI_GATEWAY_URL=http://127.0.0.1:11434/v1 SMOOTH_AGENT_MODEL=llama3.2 cargo run --release"),
        "For the hosted gateway, set ",
        el("code", {}, "SMOOAI_GATEWAY_KEY"),
        " instead.");
      this.notice.hidden = false;
    }
    this.updateControls();
  }

  storageKey() {
    return `smooth-agent-chat:${this.options.wsUrl.split("?")[0]}:${this.agentId}`;
  }

  onStatus({ state, attempt, delayMs }) {
    this.connected = state === "open";
    if (state === "connecting") {
      this.status.textContent = attempt ? `Reconnecting (attempt ${attempt})…` : "Connecting…";
    } else if (state === "open") {
      this.status.textContent = "Connected";
    } else {
      const seconds = Math.max(1, Math.round(delayMs / 1000));
      this.status.textContent = `Connection lost. Reconnecting in ${seconds} s…`;
      if (this.running) this.running.fail("The connection dropped before the answer finished.");
      this.endTurn();
    }
    this.container.dataset.connection = state;
    this.updateControls();
  }

  /** After each (re)connect: resume the remembered session or create one. */
  async onOpen(isReconnect) {
    this.sessionReady = false;
    this.updateControls();
    try {
      let sessionId = this.sessionId ?? readStorage(this.storageKey());
      if (sessionId) {
        try {
          await this.connection.request({ action: "get_session", sessionId });
        } catch (error) {
          if (!(error instanceof ProtocolError) || !["SESSION_NOT_FOUND", "VALIDATION_ERROR"].includes(error.code)) throw error;
          sessionId = null;
          writeStorage(this.storageKey(), null);
          if (this.historyShown) this.systemMessage("The previous conversation is gone; a new one was started.");
        }
      }
      if (sessionId && !this.historyShown) await this.showHistory(sessionId);
      if (!sessionId) sessionId = await this.createSession();
      this.sessionId = sessionId;
      this.sessionReady = true;
      this.container.dataset.sessionId = sessionId;
      if (isReconnect) this.status.textContent = "Reconnected";
    } catch (error) {
      this.systemMessage(`Could not open the conversation: ${error.message}`, true);
    }
    this.updateControls();
  }

  async createSession() {
    const ack = await this.connection.request({
      action: "create_conversation_session",
      agentId: this.agentId,
      metadata: { client: "smooth-agent-chat", page: String(location.origin) },
    });
    const sessionId = ack.data.sessionId;
    writeStorage(this.storageKey(), sessionId);
    this.historyShown = true;
    return sessionId;
  }

  async showHistory(sessionId) {
    const page = await this.connection.request({
      action: "get_conversation_messages", sessionId, limit: 100,
    });
    const messages = [...(page.data.messages ?? [])].reverse();
    this.clearLog();
    for (const message of messages) {
      const text = message.content?.text ?? "";
      if (message.direction === "inbound") this.userMessage(text);
      else this.agentMessage(text);
    }
    if (page.data.hasMore) {
      this.log.prepend(el("p", { className: "soc-more" }, "Older messages are not shown."));
    }
    this.historyShown = true;
    this.scroll(true);
  }

  clearLog() {
    this.log.replaceChildren();
    this.turns.clear();
  }

  async startOver() {
    if (this.running) this.stop();
    writeStorage(this.storageKey(), null);
    this.sessionId = null;
    this.sessionReady = false;
    this.clearLog();
    this.log.append(this.empty);
    this.updateControls();
    try {
      this.sessionId = await this.createSession();
      this.sessionReady = true;
      this.container.dataset.sessionId = this.sessionId;
    } catch (error) {
      this.systemMessage(`Could not start a new conversation: ${error.message}`, true);
    }
    this.updateControls();
    this.input.focus();
  }

  updateControls() {
    const ready = Boolean(this.connected && this.sessionReady);
    const canType = ready && !this.gatewayMissing;
    this.input.disabled = !canType;
    this.sendButton.disabled = !canType || this.running !== null || this.input.value.trim() === "";
    this.stopButton.hidden = this.running === null;
    this.newChat.disabled = !ready;
  }

  submit() {
    const text = this.input.value.trim();
    if (!text || this.running || !this.sessionReady || this.gatewayMissing) return;
    const rid = requestId("turn");
    this.userMessage(text);
    const turn = this.agentMessage("", rid);
    if (!this.connection.send({ action: "send_message", requestId: rid, sessionId: this.sessionId, message: text })) {
      turn.fail("Not connected to the server; the message was not sent.");
      return;
    }
    this.running = turn;
    this.input.value = "";
    this.updateControls();
  }

  stop() {
    const turn = this.running;
    if (!turn) return;
    this.connection.send({ action: "cancel", requestId: turn.requestId, sessionId: this.sessionId });
    turn.setState("Stopping…");
  }

  endTurn(turn) {
    if (!turn || this.running === turn) this.running = null;
    this.updateControls();
  }

  onEvent(event) {
    const turn = event.requestId !== undefined ? this.turns.get(event.requestId) : undefined;
    switch (event.type) {
      case "stream_token":
        turn?.token(event.token ?? event.data?.token ?? "");
        break;
      case "stream_reasoning":
        turn?.reasoning(event.token ?? event.data?.token ?? "");
        break;
      case "stream_chunk":
        turn?.chunk(event.node, event.data?.state?.rawResponse ?? {});
        break;
      case "write_confirmation_required":
        turn?.confirm(event.data?.data ?? {}, (approved) => this.answer(turn, approved));
        break;
      case "eventual_response":
        if (turn) {
          turn.finish(event.data?.data ?? {});
          this.endTurn(turn);
        }
        break;
      case "cancelled":
        if (turn) {
          turn.stopped();
          this.endTurn(turn);
        }
        break;
      case "error":
        if (turn) {
          turn.fail(event.error?.message ?? "The answer failed.");
          this.endTurn(turn);
        } else {
          this.systemMessage(event.error?.message ?? "Something went wrong.", true);
        }
        break;
      default:
        // immediate_response (202 acks), keepalive and unknown events need nothing.
        break;
    }
    this.scroll();
  }

  async answer(turn, approved) {
    try {
      await this.connection.request({ action: "confirm_tool_action", sessionId: this.sessionId, approved });
    } catch (error) {
      turn.note(`The answer to the approval was not delivered: ${error.message}`, true);
    }
  }

  userMessage(text) {
    this.empty.remove();
    const body = el("div", { className: "soc-body soc-plain" }, text);
    this.log.append(el("article", { className: "soc-msg soc-user", "aria-label": "You" },
      el("p", { className: "soc-who" }, "You"), body));
    this.scroll(true);
  }

  agentMessage(text, rid) {
    this.empty.remove();
    const turn = new Turn(this, rid);
    if (text) turn.setText(text);
    if (rid) {
      this.turns.set(rid, turn);
      turn.article.setAttribute("aria-busy", "true");
    }
    this.log.append(turn.article);
    this.scroll(true);
    return turn;
  }

  systemMessage(text, isError = false) {
    this.empty.remove();
    this.log.append(el("p", { className: isError ? "soc-system soc-error" : "soc-system" }, text));
    this.scroll(true);
  }

  scroll(force = false) {
    const log = this.log;
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    if (force || nearBottom) log.scrollTop = log.scrollHeight;
  }
}
