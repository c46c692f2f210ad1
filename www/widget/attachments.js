// Where a photo can come from: the file picker, the phone camera (capture), a pasted screenshot,
// or a file dropped on the panel. Each calls onFile(file).

/** Image files by name where the browser gives no type (some phones, some drag sources). */
const IMAGE_NAME = /\.(jpe?g|png|gif|webp|heic|heif|avif|bmp)$/i;

/** True when `file` claims to be a picture (its type, or its name where it has no type). */
export function looksLikeImage(file) {
  return file.type ? file.type.startsWith('image/') : IMAGE_NAME.test(file.name || '');
}

function firstFile(list) {
  return list && list.length ? list[0] : null;
}

/**
 * Wires the inputs and the drop target. `dropZone` gets the class "dragging" while a file is
 * over it. Returns nothing; listeners live as long as the nodes.
 */
export function wireAttachments({ pickers, pasteTarget, dropZone, onFile }) {
  for (const input of pickers) {
    input.addEventListener('change', () => {
      const file = firstFile(input.files);
      input.value = '';
      if (file) onFile(file);
    });
  }

  pasteTarget.addEventListener('paste', (e) => {
    const file = firstFile(e.clipboardData && e.clipboardData.files);
    if (!file) return; // plain text pastes as usual
    e.preventDefault();
    onFile(file);
  });

  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  let depth = 0;
  dropZone.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    dropZone.classList.add('dragging');
  });
  dropZone.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  dropZone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) dropZone.classList.remove('dragging');
  });
  dropZone.addEventListener('drop', (e) => {
    depth = 0;
    dropZone.classList.remove('dragging');
    const file = firstFile(e.dataTransfer && e.dataTransfer.files);
    if (!file) return;
    e.preventDefault();
    onFile(file);
  });
}
