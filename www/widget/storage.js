// The conversation and the "Did this help?" answers, kept in this browser's localStorage (one
// conversation per KB). Storage that is full or switched off only means nothing is kept.

const MAX_MESSAGES = 60;
const FEEDBACK_KEY = 'helplens-chat:feedback';
const MAX_FEEDBACK = 500;

function read(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text ? JSON.parse(text) : fallback;
  } catch { return fallback; }
}

function write(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); return true; } catch { return false; }
}

export class ConversationStore {
  /** `scope`: what the conversation belongs to (the KB's URL). */
  constructor(scope) {
    this.key = `helplens-chat:v1:${scope}`;
    const saved = read(this.key, {});
    this.messages = Array.isArray(saved.messages) ? saved.messages : [];
    this.open = saved.open === true;
  }

  save() {
    this.messages = this.messages.slice(-MAX_MESSAGES);
    // A full storage drops the photo thumbnails first, then keeps what fits.
    if (write(this.key, { messages: this.messages, open: this.open })) return;
    const lean = this.messages.map(({ thumb, ...m }) => m);
    write(this.key, { messages: lean, open: this.open });
  }

  add(message) {
    const m = { id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, at: Date.now(), ...message };
    this.messages.push(m);
    this.save();
    return m;
  }

  update(id, fields) {
    const m = this.messages.find((x) => x.id === id);
    if (m) { Object.assign(m, fields); this.save(); }
    return m;
  }

  clear() { this.messages = []; this.save(); }

  setOpen(open) { this.open = open; this.save(); }
}

/** Keeps one "Did this help?" answer locally (article id, helpful, question, when). */
export function recordFeedback(entry) {
  const log = read(FEEDBACK_KEY, []);
  log.push({ ...entry, at: Date.now() });
  write(FEEDBACK_KEY, Array.isArray(log) ? log.slice(-MAX_FEEDBACK) : [entry]);
}

/** Every kept "Did this help?" answer, oldest first. */
export function feedbackLog() { return read(FEEDBACK_KEY, []); }
