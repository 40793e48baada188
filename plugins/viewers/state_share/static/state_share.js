// Import / export / share: the whole selection state as a downloaded JSON document, restored by
// importing it, or as a URL that restores it when opened.

import { documentToState, stateToDocument } from '/static/explorer/state_codec.js';

export function mount(element, { store, controller, shortcuts }) {
  element.innerHTML = `
    <button type="button" class="export-state" title="Download the state as JSON (X)">Export</button>
    <label class="import-state button-like" title="Restore a state from a JSON file">Import
      <input type="file" accept="application/json,.json" hidden></label>
    <button type="button" class="share-state" title="Copy a link to this state (S)">Share</button>
    <button type="button" class="show-help" title="Keyboard shortcuts (?)">?</button>
    <dialog class="share-dialog">
      <h2>Share this view</h2>
      <p class="muted">The link restores project, analysis, colour map, mode and selection.</p>
      <input type="text" class="share-url" readonly aria-label="share URL">
      <p class="share-long muted" hidden>This link is long (a large selection); some tools cut
        long links, so prefer Export for it.</p>
      <form method="dialog"><button>Close</button></form>
    </dialog>`;
  const fileInput = element.querySelector('input[type="file"]');
  const dialog = element.querySelector('.share-dialog');
  const urlField = element.querySelector('.share-url');

  function exportState() {
    const doc = stateToDocument(store.state, store.project);
    const blob = new Blob([JSON.stringify(doc, null, 1)], { type: 'application/json' });
    const link = document.createElement('a');
    const name = (store.project ? store.project.name : 'relscope').replace(/[^\w.-]+/g, '-');
    link.href = URL.createObjectURL(blob);
    link.download = `${name}-state.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  async function importFile(file) {
    let patch;
    try {
      patch = documentToState(JSON.parse(await file.text()), store.projects);
    } catch (error) {
      store.message(`import of ${file.name} failed: ${error.message}`, 'error');
      return;
    }
    store.set(patch);
    store.message(`restored ${patch.selection.length} selected samples from ${file.name}`);
  }

  async function share() {
    const url = controller.shareUrl();
    urlField.value = url;
    element.querySelector('.share-long').hidden = url.length <= 8000;
    dialog.showModal();
    urlField.select();
    try {
      await navigator.clipboard.writeText(url);
      store.message('link copied to the clipboard');
    } catch (_) {
      // clipboard refused (permissions): the dialog shows the link to copy by hand
    }
  }

  element.querySelector('.export-state').addEventListener('click', exportState);
  element.querySelector('.share-state').addEventListener('click', share);
  element.querySelector('.show-help').addEventListener('click', () => shortcuts.toggleHelp(true));
  fileInput.addEventListener('change', () => {
    if (fileInput.files.length) importFile(fileInput.files[0]);
    fileInput.value = '';
  });
  shortcuts.add('x', 'Export the state as JSON', exportState);
  shortcuts.add('s', 'Share a link to this state', share);
}
