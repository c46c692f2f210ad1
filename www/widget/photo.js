// Photo decoding in the engine's worker: the browser's own decoder (any format it supports),
// downscaled while decoding above the engine's limit, plus a small JPEG thumbnail that the chat
// keeps in its history.

// The engine refuses photos above 24 megapixels (src/input/image.rs); larger ones are scaled.
const MAX_PIXELS = 24_000_000;
const THUMB_SIDE = 160;

/** RGBA pixels {pixels, width, height}, or null where the browser cannot decode the file. */
export async function decode(blob) {
  let bmp;
  try { bmp = await createImageBitmap(blob); } catch { return null; }
  let { width, height } = bmp;
  if (width * height > MAX_PIXELS) {
    const s = Math.sqrt(MAX_PIXELS / 2 / (width * height));
    const small = await createImageBitmap(bmp, { resizeWidth: Math.round(width * s), resizeHeight: Math.round(height * s), resizeQuality: 'high' });
    bmp.close();
    bmp = small;
    ({ width, height } = bmp);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const data = ctx.getImageData(0, 0, width, height).data;
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, canvas };
}

/** A data: URL of a small JPEG of the decoded photo, for the conversation history. */
export async function thumbnail({ canvas, width, height }) {
  const s = Math.min(1, THUMB_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * s));
  const h = Math.max(1, Math.round(height * s));
  const small = new OffscreenCanvas(w, h);
  const ctx = small.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(canvas, 0, 0, w, h);
  const blob = await small.convertToBlob({ type: 'image/jpeg', quality: 0.75 });
  return new FileReaderSync().readAsDataURL(blob);
}
