// DOM for the chat: one function per kind of message. Everything from the KB or the user goes in
// as text (or through markdown.js); hrefs pass safeHref.
import { link, render, safeHref } from './markdown.js';

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A 24×24 stroke icon from path data (decorative: hidden from screen readers). */
export function icon(d) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

export const ICONS = {
  chat: 'M4 5h16v11H9l-5 4z',
  close: 'M6 6l12 12M18 6L6 18',
  clear: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13',
  attach: 'M16 7l-7.5 7.5a2 2 0 0 0 3 3L19 10a4 4 0 0 0-6-6l-7.5 7.5a6 6 0 0 0 8.5 8.5L20 14',
  camera: 'M4 8h4l2-3h4l2 3h4v11H4zM12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7',
  send: 'M4 12l16-8-6 16-2.5-6.5z',
};

/** Where to reach a person: {url, email} from the element's contact attribute or the KB. */
export function contactLinks(contact, t) {
  const links = [];
  const url = safeHref(contact.url);
  if (url) links.push(el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'button' }, t.contactUrl));
  if (contact.email && /^[^\s@<>"]+@[^\s@<>"]+$/.test(contact.email)) {
    links.push(el('a', { href: `mailto:${contact.email}`, class: 'button secondary' }, t.contactEmail(contact.email)));
  }
  return links;
}

function handoff(ctx, lead) {
  const links = contactLinks(ctx.contact, ctx.t);
  if (!links.length) return null;
  return el('div', { class: 'handoff', role: 'group', 'aria-label': ctx.t.handoff },
    el('p', { class: 'handoff-title' }, el('strong', { text: ctx.t.handoff })),
    el('p', { text: lead }), el('p', { class: 'handoff-links' }, ...links));
}

function articlePhoto(ctx, article) {
  const src = article && article.images && article.images[0];
  const href = src && ctx.imageBase ? safeHref(src, ctx.imageBase) : null;
  if (!href || !/^https?:/.test(href)) return null;
  const img = el('img', { class: 'thumb', src: href, alt: ctx.t.articlePhoto(article.title), loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.remove());
  return img;
}

function readMore(ctx, item) {
  const href = safeHref(item.url);
  return href ? el('a', { class: 'more', href, target: '_blank', rel: 'noopener noreferrer' }, ctx.t.readMore) : null;
}

function card(ctx, item) {
  const article = ctx.articles.get(item.id);
  return el('article', { class: 'card', 'data-id': item.id },
    articlePhoto(ctx, article),
    el('h3', { class: 'card-title', text: item.title }),
    article ? el('div', { class: 'md' }, render(article.body)) : null,
    readMore(ctx, item));
}

function candidate(ctx, item) {
  const article = ctx.articles.get(item.id);
  return el('li', { 'data-id': item.id },
    el('details', {},
      el('summary', { text: item.title }),
      article ? el('div', { class: 'md' }, render(article.body)) : null,
      readMore(ctx, item)));
}

function feedback(ctx, msg) {
  const { t } = ctx;
  const box = el('div', { class: 'feedback', role: 'group', 'aria-label': t.helpful });
  if (msg.feedback) {
    box.append(el('p', { text: t.thanks }));
    if (msg.feedback === 'no') box.append(handoff(ctx, t.sorry) || '');
    return box;
  }
  const choose = (value) => () => ctx.onFeedback(msg, value);
  box.append(el('span', { text: t.helpful }),
    el('button', { type: 'button', class: 'chip', onclick: choose('yes') }, t.yes),
    el('button', { type: 'button', class: 'chip', onclick: choose('no') }, t.no));
  return box;
}

function answerBody(ctx, msg) {
  const { t } = ctx;
  const { answers = [], confident, labels = [] } = msg.answer || {};
  const parts = [];
  const read = msg.answer && msg.answer.read && Array.isArray(msg.answer.read.lines) ? msg.answer.read.lines.map((l) => l.text).join(' ') : '';
  if (read) {
    // The customer can correct what was read and ask again with the text alone.
    const fix = ctx.onEditRead ? el('button', { type: 'button', class: 'chip edit-read', onclick: () => ctx.onEditRead(read) }, t.editRead) : null;
    parts.push(el('p', { class: 'reads', text: t.reads(read) }, ...(fix ? [' ', fix] : [])));
  }
  else if (labels.length) parts.push(el('p', { class: 'looks-like', text: t.looksLike(labels.slice(0, 2).map((l) => l.name).join(', ')) }));
  if (confident && answers.length) {
    parts.push(card(ctx, answers[0]));
    const rest = answers.slice(1, 3);
    if (rest.length) {
      parts.push(el('details', { class: 'related' }, el('summary', { text: t.related }),
        el('ul', {}, ...rest.map((a) => el('li', { 'data-id': a.id }, link(a.title, a.url))))));
    }
    parts.push(feedback(ctx, msg));
  } else {
    parts.push(el('p', { text: t.notSure }));
    parts.push(el('ul', { class: 'candidates' }, ...answers.slice(0, 3).map((a) => candidate(ctx, a))));
    parts.push(handoff(ctx, t.handoffText));
  }
  return parts;
}

/** One message of the conversation as a list item. */
export function message(ctx, msg) {
  const { t } = ctx;
  const who = el('span', { class: 'visually-hidden', text: `${msg.role === 'user' ? t.you : t.assistant}${t.sep}` });
  const li = el('li', { class: `msg ${msg.role} ${msg.kind || ''}`.trim(), 'data-kind': msg.kind || 'text', 'data-msg': msg.id }, who);
  if (msg.role === 'user') {
    if (msg.thumb && /^data:image\/(jpeg|png);base64,/.test(msg.thumb)) {
      li.append(el('img', { class: 'sent-photo', src: msg.thumb, alt: t.photoOf(msg.photoName || '') }));
    } else if (msg.photoName) {
      li.append(el('p', { class: 'photo-name', text: `${t.sentPhoto}${t.sep}${msg.photoName}` }));
    }
    if (msg.text) li.append(el('p', { text: msg.text }));
  } else if (msg.kind === 'answer') {
    li.dataset.confident = String(!!msg.answer.confident);
    if (msg.answer.answers[0]) li.dataset.top = msg.answer.answers[0].id;
    li.append(...answerBody(ctx, msg).filter(Boolean));
  } else {
    li.append(el('p', { text: msg.text }));
  }
  return li;
}

export function typing(t) {
  return el('li', { class: 'msg bot typing', 'data-kind': 'typing' },
    el('span', { class: 'visually-hidden', text: t.typing }),
    el('span', { class: 'dots', 'aria-hidden': 'true' }, el('span'), el('span'), el('span')));
}
