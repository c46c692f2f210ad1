// A small, safe Markdown renderer for KB answers. It builds DOM nodes and sets only textContent
// and vetted hrefs, never HTML: markup in the KB shows as text and runs nothing. Supported:
// headings, paragraphs, ordered and unordered lists, block quotes, fenced code, **bold**,
// *italic*, `code` and [links](url). Links keep only http(s), mailto and relative targets;
// inline images are shown as their alt text (article photos come from the KB's `images`).

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** The absolute href for `raw` when it is http(s), mailto or relative; otherwise null. */
export function safeHref(raw, base = document.baseURI) {
  if (typeof raw !== 'string' || !raw.trim()) return null;
  // Browsers ignore ASCII whitespace and control characters in a scheme ("java\tscript:"): so does URL.
  let url;
  try { url = new URL(raw.trim(), base); } catch { return null; }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

function el(tag, ...children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

function anchor(href, children) {
  const a = el('a', ...children);
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

/** A link to `href` when it is safe, else the text alone. */
export function link(text, href) {
  const safe = safeHref(href);
  return safe ? anchor(safe, [text]) : document.createTextNode(text);
}

// One alternation per inline construct; the first match wins, text between matches is text.
const INLINE = /(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"\n]*")?\s*\)|\*\*(.+?)\*\*|__(.+?)__|`([^`\n]+)`|\*([^*\s](?:[^*\n]*[^*\s])?)\*|\b_([^_\s](?:[^_\n]*[^_\s])?)_\b/g;

/** Inline Markdown as a list of nodes (text, strong, em, code, a). */
export function inline(text, { links = true } = {}) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > at) out.push(document.createTextNode(text.slice(at, m.index)));
    at = m.index + m[0].length;
    const [, bang, label, href, strong, strong2, code, em, em2] = m;
    if (label !== undefined) {
      const kids = inline(label, { links: false });
      const safe = links && !bang ? safeHref(href) : null;
      out.push(safe ? anchor(safe, kids) : el('span', ...kids));
    } else if (strong !== undefined || strong2 !== undefined) out.push(el('strong', ...inline(strong ?? strong2, { links })));
    else if (code !== undefined) out.push(el('code', code));
    else out.push(el('em', ...inline(em ?? em2, { links })));
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}

const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

/**
 * Markdown as a DocumentFragment. `headingLevel` is the level a `#` heading becomes (a card's
 * own title is above it).
 */
export function render(markdown, { headingLevel = 4 } = {}) {
  const frag = document.createDocumentFragment();
  const lines = String(markdown || '').replace(/\r\n?/g, '\n').split('\n');
  // The body's top heading level becomes headingLevel, so levels never skip below the card title.
  const top = Math.min(6, ...lines.map((l) => (l.match(/^\s{0,3}(#{1,6})\s/) || [, '######'])[1].length));
  let para = [];
  let list = null; // {node, ordered}
  let quote = [];

  const flushPara = () => {
    if (para.length) frag.append(el('p', ...inline(para.join(' '))));
    para = [];
  };
  const flushQuote = () => {
    if (quote.length) frag.append(el('blockquote', el('p', ...inline(quote.join(' ')))));
    quote = [];
  };
  const flushAll = () => { flushPara(); flushQuote(); list = null; };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      flushAll();
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
      frag.append(el('pre', el('code', code.join('\n'))));
      continue;
    }
    if (!line.trim()) { flushAll(); continue; }
    const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      flushAll();
      const level = Math.min(6, headingLevel + heading[1].length - top);
      frag.append(el(`h${level}`, ...inline(heading[2])));
      continue;
    }
    const quoted = line.match(/^\s{0,3}>\s?(.*)$/);
    if (quoted) { flushPara(); list = null; quote.push(quoted[1]); continue; }
    const item = line.match(LIST_ITEM);
    if (item) {
      flushPara(); flushQuote();
      const ordered = /\d/.test(item[2]);
      if (!list || list.ordered !== ordered) {
        const node = el(ordered ? 'ol' : 'ul');
        const start = parseInt(item[2], 10);
        if (ordered && start > 1) node.start = start;
        frag.append(node);
        list = { node, ordered };
      }
      list.node.append(el('li', ...inline(item[3])));
      continue;
    }
    if (list && /^\s+\S/.test(line)) { // continuation of the last list item
      list.node.lastElementChild.append(' ', ...inline(line.trim()));
      continue;
    }
    flushQuote(); list = null;
    para.push(line.trim());
  }
  flushAll();
  return frag;
}
