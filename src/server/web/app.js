// The chat page (/): connects to this server's /ws (passing ?token= on when the page was opened
// with one), talks to the agent named by ?agent= (or the server's default agent), and shows how
// to embed the same chat on another site.

import { ChatView } from "./chat.js";

const params = new URLSearchParams(window.location.search);
const ws = new URL("/ws", window.location.href);
ws.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
const token = params.get("token");
if (token) ws.searchParams.set("token", token);

const view = new ChatView(document.getElementById("chat"), {
  wsUrl: ws.href,
  infoUrl: new URL("/api/info", window.location.href).href,
  agentId: params.get("agent"),
  headingLevel: 1,
});
view.start();

/** The two lines that embed this agent on another site. */
function embedSnippet(agentId) {
  const wss = new URL("/ws", window.location.href);
  wss.protocol = ws.protocol;
  return `<script type="module" src="${new URL("/widget.js", window.location.href).href}"></script>\n` +
    `<smooth-agent-chat agent-id="${agentId}" server="${wss.href}"></smooth-agent-chat>`;
}

fetch("/api/info")
  .then((response) => (response.ok ? response.json() : null))
  .then((info) => {
    if (!info) return;
    const version = document.getElementById("version");
    if (version) version.textContent = `${info.server} ${info.version} · protocol ${info.protocolVersion}`;
    const snippet = document.getElementById("embed-snippet");
    if (snippet) snippet.textContent = embedSnippet(params.get("agent") || info.defaultAgentId);
  })
  .catch(() => {});
