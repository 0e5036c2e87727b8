// <smooth-agent-chat>: the chat as a custom element for other sites, in a shadow root so the host
// page's CSS cannot reach it. Load it with one tag and place the element:
//
//   <script type="module" src="https://agent.example.com/widget.js"></script>
//   <smooth-agent-chat agent-id="…" server="wss://agent.example.com/ws"></smooth-agent-chat>
//
// Attributes: agent-id (default: the server's default agent), server (the ws(s) URL of /ws;
// default: the server this script came from), token (passed as ?token=), title, open (start
// with the panel open), inline (render in the page flow instead of a floating button).

import { ChatView } from "./assets/chat.js";

const ORIGIN = new URL(".", import.meta.url);

/** The /ws URL for a `server` attribute: a ws(s):// or http(s):// URL, with or without /ws. */
function socketUrl(server, token) {
  const url = new URL(server || "/ws", ORIGIN);
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/ws";
  if (token) url.searchParams.set("token", token);
  return url;
}

class SmoothAgentChat extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: "open" });
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = new URL("assets/style.css", ORIGIN).href;
    root.append(style);
    const ws = socketUrl(this.getAttribute("server"), this.getAttribute("token"));
    const info = new URL("/api/info", ws);
    info.protocol = ws.protocol === "wss:" ? "https:" : "http:";
    info.search = "";
    const inline = this.hasAttribute("inline");
    const panel = document.createElement("div");
    panel.className = inline ? "soc-widget soc-inline" : "soc-widget soc-floating";
    root.append(panel);
    const title = this.getAttribute("title") || "Chat with us";
    const view = new ChatView(panel, {
      wsUrl: ws.href,
      infoUrl: info.href,
      agentId: this.getAttribute("agent-id"),
      title,
      headingLevel: 2,
    });
    this.view = view;
    if (inline) {
      view.start();
      return;
    }
    const launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "soc-launcher";
    launcher.textContent = title;
    launcher.setAttribute("aria-expanded", "false");
    root.append(launcher);
    let started = false;
    const toggle = (open) => {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      launcher.textContent = open ? "Close chat" : title;
      if (open && !started) {
        started = true;
        view.start();
      }
      if (open) view.input.focus();
    };
    launcher.addEventListener("click", () => toggle(panel.hidden));
    toggle(this.hasAttribute("open"));
  }

  disconnectedCallback() {
    this.view?.close();
  }
}

if (!customElements.get("smooth-agent-chat")) {
  customElements.define("smooth-agent-chat", SmoothAgentChat);
}
