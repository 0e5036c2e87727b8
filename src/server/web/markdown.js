// Safe Markdown for model output: builds DOM nodes with createElement and text nodes only, so
// nothing in the text can become markup or script. Supported: paragraphs with line breaks,
// headings, fenced and inline code, bold, italic, block quotes, lists, rules, [links](url)
// and bare URLs. Only absolute http(s) URLs become links, opened without opener or referrer.

/** The URL as a string when it is an absolute http(s) URL, otherwise null. */
export function safeUrl(text) {
  if (typeof text !== "string") return null;
  let url;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

/** A link element for a safe URL, or a text node when the URL is not http(s). */
export function link(href, text) {
  const safe = safeUrl(href);
  if (safe === null) return document.createTextNode(text);
  const a = document.createElement("a");
  a.href = safe;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  a.textContent = text;
  return a;
}

/** Renders Markdown text into a new DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (fence[2]) code.dataset.lang = fence[2];
      code.textContent = body.join("\n");
      pre.append(code);
      fragment.append(pre);
      continue;
    }
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2);
      const h = document.createElement(`h${level}`);
      inline(heading[2], h);
      fragment.append(h);
      i += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      fragment.append(document.createElement("hr"));
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      const blockquote = document.createElement("blockquote");
      blockquote.append(renderMarkdown(quoted.join("\n")));
      fragment.append(blockquote);
      continue;
    }
    const bullet = /^\s*([-*+]|\d{1,9}[.)])\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = document.createElement(ordered ? "ol" : "ul");
      const start = /^\s*(\d+)/.exec(line);
      if (ordered && start && start[1] !== "1") list.start = Number(start[1]);
      while (i < lines.length && bullet.test(lines[i]) && /^\s*\d/.test(lines[i]) === ordered) {
        const item = document.createElement("li");
        const parts = [lines[i].replace(bullet, "")];
        i += 1;
        // Indented continuation lines belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !bullet.test(lines[i])) {
          parts.push(lines[i].trim());
          i += 1;
        }
        inline(parts.join("\n"), item);
        list.append(item);
      }
      fragment.append(list);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() !== "" && !startsBlock(lines[i])) {
      paragraph.push(lines[i]);
      i += 1;
    }
    if (paragraph.length === 0) {
      paragraph.push(line);
      i += 1;
    }
    const p = document.createElement("p");
    inline(paragraph.join("\n"), p);
    fragment.append(p);
  }
  return fragment;
}

function startsBlock(line) {
  return /^\s*(```|~~~)/.test(line) || /^#{1,6}\s/.test(line) || /^\s*>/.test(line) ||
    /^\s*([-*+]|\d{1,9}[.)])\s+/.test(line);
}

const INLINE = [
  // [kind, pattern]; each pattern is anchored at the current position.
  ["code", /^`([^`\n]+)`/],
  ["strong", /^\*\*(?=\S)([\s\S]*?\S)\*\*/],
  ["strong", /^__(?=\S)([\s\S]*?\S)__(?![\w])/],
  ["em", /^\*(?=[^\s*])([^*]*?[^\s*])\*/],
  ["em", /^_(?=[^\s_])([^_]*?[^\s_])_(?![\w])/],
  ["link", /^\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)/],
  ["url", /^<(https?:\/\/[^\s<>]+)>/],
  ["url", /^https?:\/\/[^\s<>]*[^\s<>.,;:!?'")\]]/],
];

/** Appends the inline Markdown of `text` to `parent`. */
function inline(text, parent) {
  let plain = "";
  const flush = () => {
    if (plain) appendText(parent, plain);
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const previous = i > 0 ? text[i - 1] : " ";
    let matched = false;
    for (const [kind, pattern] of INLINE) {
      if ((kind === "em" || kind === "url" || kind === "strong") && /\w/.test(previous)) continue;
      const m = pattern.exec(rest);
      if (!m) continue;
      flush();
      if (kind === "code") {
        const code = document.createElement("code");
        code.textContent = m[1];
        parent.append(code);
      } else if (kind === "strong" || kind === "em") {
        const el = document.createElement(kind);
        inline(m[1], el);
        parent.append(el);
      } else if (kind === "link") {
        parent.append(link(m[2], m[1]));
      } else {
        const href = m[1] ?? m[0];
        parent.append(link(href, href));
      }
      i += m[0].length;
      matched = true;
      break;
    }
    if (!matched) {
      plain += text[i];
      i += 1;
    }
  }
  flush();
}

/** Appends text, turning newlines into <br> elements. */
function appendText(parent, text) {
  const pieces = text.split("\n");
  pieces.forEach((piece, index) => {
    if (index > 0) parent.append(document.createElement("br"));
    if (piece) parent.append(document.createTextNode(piece));
  });
}
