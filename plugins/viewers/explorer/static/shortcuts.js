// Keyboard shortcuts: panels add keys with a description; '?' shows the list. Keys are ignored
// while the user types in a form field.

export class Shortcuts {
  constructor() {
    this.keys = new Map();
    this.dialog = null;
    document.addEventListener('keydown', (event) => this.handle(event));
    this.add('?', 'Show keyboard shortcuts', () => this.toggleHelp());
  }

  /** Bind ``key`` (as in KeyboardEvent.key) to ``fn``; later bindings of a key add to it. */
  add(key, description, fn) {
    if (!this.keys.has(key)) this.keys.set(key, []);
    this.keys.get(key).push({ description, fn });
  }

  handle(event) {
    const target = event.target;
    const typing =
      target instanceof HTMLElement &&
      (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
    if (typing && event.key !== 'Escape') return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (this.dialog && this.dialog.open) {
      if (event.key === '?') this.toggleHelp(false);
      return; // a modal dialog takes the keys (Escape closes it natively)
    }
    const bindings = this.keys.get(event.key);
    if (!bindings) return;
    event.preventDefault();
    for (const binding of bindings) binding.fn(event);
  }

  toggleHelp(show) {
    if (!this.dialog) {
      this.dialog = document.createElement('dialog');
      this.dialog.className = 'shortcut-help';
      document.body.append(this.dialog);
    }
    const open = show === undefined ? !this.dialog.open : show;
    if (!open) {
      if (this.dialog.open) this.dialog.close();
      return;
    }
    const rows = [...this.keys.entries()]
      .filter(([, list]) => list.some((b) => b.description))
      .map(([key, list]) => {
        const text = list
          .filter((b) => b.description)
          .map((b) => b.description)
          .join('; ');
        const shown = key === ' ' ? 'Space' : key;
        return `<tr><td><kbd>${shown}</kbd></td><td>${text}</td></tr>`;
      })
      .join('');
    this.dialog.innerHTML =
      `<h2>Keyboard shortcuts</h2><table>${rows}</table>` +
      '<form method="dialog"><button>Close</button></form>';
    this.dialog.showModal();
  }
}
