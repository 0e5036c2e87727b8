// One agent reply in the log: its reasoning (collapsed), tool calls and results, streamed text
// rendered as safe Markdown, approval prompts, sources and final state.

import { el } from "./dom.js";
import { link, renderMarkdown, safeUrl } from "./markdown.js";

/** One agent reply: its reasoning, tool activity, text, approval prompts, sources and state. */
export class Turn {
  constructor(view, rid) {
    this.view = view;
    this.requestId = rid;
    this.text = "";
    this.segments = [];
    this.tools = new Map();
    this.reasoningText = "";
    this.reasoningBox = null;
    this.parts = el("div", { className: "soc-parts" });
    this.state = el("p", { className: "soc-state", hidden: true });
    this.article = el("article", { className: "soc-msg soc-agent", "aria-label": "Agent" },
      el("p", { className: "soc-who" }, "Agent"), this.parts, this.state);
    if (rid) this.article.dataset.requestId = rid;
    this.current = null;
    if (rid) this.setState("Thinking…", false);
  }

  /** The text segment tokens go to (a new one after a tool call). */
  segment() {
    if (!this.current) {
      this.current = { text: "", node: el("div", { className: "soc-body soc-md" }) };
      this.segments.push(this.current);
      this.parts.append(this.current.node);
    }
    return this.current;
  }

  token(token) {
    if (!token) return;
    const segment = this.segment();
    segment.text += token;
    this.text += token;
    segment.node.replaceChildren(renderMarkdown(segment.text));
    this.setState("Writing…", false);
  }

  setText(text) {
    const segment = this.segment();
    segment.text = text;
    this.text = text;
    segment.node.replaceChildren(renderMarkdown(text));
  }

  reasoning(token) {
    if (!this.reasoningBox) {
      this.reasoningNode = el("div", { className: "soc-reasoning-text" });
      this.reasoningBox = el("details", { className: "soc-reasoning" },
        el("summary", {}, "Reasoning"), this.reasoningNode);
      this.parts.prepend(this.reasoningBox);
    }
    this.reasoningText += token;
    this.reasoningNode.textContent = this.reasoningText;
  }

  chunk(node, raw) {
    if (raw.toolCall) {
      this.current = null;
      const call = raw.toolCall;
      const label = el("span", { className: "soc-tool-state" }, "running…");
      const box = el("details", { className: "soc-tool", dataset: { tool: call.name ?? node ?? "" } },
        el("summary", {}, "Tool ", el("code", {}, call.name ?? node ?? "tool"), " ", label),
        el("p", { className: "soc-tool-label" }, "Arguments"),
        el("pre", { className: "soc-tool-args" }, prettyJson(call.arguments)));
      this.tools.set(call.name ?? node, { box, label });
      this.parts.append(box);
      this.setState(`Running ${call.name ?? "a tool"}…`, false);
    } else if (raw.toolResult) {
      const result = raw.toolResult;
      const tool = this.tools.get(result.name ?? node);
      if (!tool) return;
      tool.label.textContent = result.isError ? "failed" : "done";
      tool.box.classList.toggle("soc-tool-error", Boolean(result.isError));
      tool.box.append(el("p", { className: "soc-tool-label" }, "Result"),
        el("pre", { className: "soc-tool-result" }, prettyJson(result.result)));
      this.tools.delete(result.name ?? node);
    }
  }

  confirm(prompt, answer) {
    const description = prompt.actionDescription ?? `Allow the tool ${prompt.toolId}?`;
    const approve = el("button", { type: "button", className: "soc-approve" }, "Approve");
    const deny = el("button", { type: "button", className: "soc-deny" }, "Deny");
    const verdict = el("p", { className: "soc-verdict", hidden: true });
    const box = el("div", { className: "soc-confirm", role: "group", "aria-label": "Approval needed" },
      el("p", { className: "soc-confirm-text" }, description),
      el("div", { className: "soc-confirm-actions" }, approve, deny), verdict);
    const decide = (approved) => {
      approve.disabled = true;
      deny.disabled = true;
      verdict.hidden = false;
      verdict.textContent = approved ? "Approved." : "Denied.";
      box.classList.add(approved ? "soc-approved" : "soc-denied");
      this.setState(approved ? "Continuing…" : "Continuing without the tool…", false);
      answer(approved);
    };
    approve.addEventListener("click", () => decide(true));
    deny.addEventListener("click", () => decide(false));
    this.current = null;
    this.parts.append(box);
    this.setState("Waiting for your approval", false);
    approve.focus();
  }

  finish(result) {
    const parts = result.response?.responseParts;
    if (!this.text && Array.isArray(parts) && parts.length > 0) this.setText(parts.join("\n\n"));
    const citations = Array.isArray(result.citations) ? result.citations : [];
    if (citations.length > 0) {
      const list = el("ol", {});
      for (const citation of citations) {
        const title = citation.title || citation.id || "source";
        const item = el("li", { className: "soc-citation" },
          safeUrl(citation.url) ? link(citation.url, title) : el("span", { className: "soc-source" }, title));
        if (citation.snippet) item.append(el("p", { className: "soc-snippet" }, citation.snippet));
        list.append(item);
      }
      this.parts.append(el("nav", { className: "soc-citations", "aria-label": "Sources" },
        el("p", { className: "soc-citations-title" }, "Sources"), list));
    }
    if (!this.text && citations.length === 0) this.setState("The agent sent an empty answer.", false);
    else this.setState(null);
    this.done();
  }

  stopped() {
    this.setState("Stopped.", false);
    this.done();
  }

  fail(message) {
    this.setState(message, true);
    this.done();
  }

  note(message, isError) {
    this.parts.append(el("p", { className: isError ? "soc-system soc-error" : "soc-system" }, message));
  }

  done() {
    this.article.removeAttribute("aria-busy");
    this.article.classList.add("soc-done");
    this.view.turns.delete(this.requestId);
  }

  setState(text, isError = false) {
    this.state.hidden = !text;
    this.state.textContent = text ?? "";
    this.state.classList.toggle("soc-error", Boolean(isError));
  }
}

/** Pretty-prints a JSON string when it is JSON; returns any other text as it is. */
function prettyJson(text) {
  if (typeof text !== "string") return JSON.stringify(text, null, 2) ?? "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
