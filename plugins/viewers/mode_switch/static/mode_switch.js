// Mode: what sample images show (input, attribution, or attribution over a grey input), and
// whether small images are magnified pixelated or smooth.

const MODES = [
  ['input', 'Input'],
  ['attribution', 'Attribution'],
  ['overlay', 'Overlay'],
];

export function mount(element, { store, shortcuts }) {
  element.innerHTML = `<h2>Mode</h2>
    <div class="segmented mode-buttons" role="radiogroup" aria-label="Image mode">
      ${MODES.map(([value, text]) => `<button type="button" data-mode="${value}" role="radio">${text}</button>`).join('')}
    </div>
    <label class="sampling"><input type="checkbox" name="pixelated"> Pixelated (sharp pixels)</label>`;
  const buttons = [...element.querySelectorAll('[data-mode]')];
  const pixelated = element.querySelector('input[name="pixelated"]');

  function render() {
    for (const button of buttons) {
      const on = button.dataset.mode === store.state.mode;
      button.setAttribute('aria-pressed', String(on));
      button.setAttribute('aria-checked', String(on));
    }
    pixelated.checked = store.state.sampling === 'pixelated';
  }

  for (const button of buttons) {
    button.addEventListener('click', () => store.set({ mode: button.dataset.mode }));
  }
  pixelated.addEventListener('change', () =>
    store.set({ sampling: pixelated.checked ? 'pixelated' : 'smooth' }),
  );
  store.on('state', ({ changed }) => (changed.has('mode') || changed.has('sampling')) && render());
  render();

  shortcuts.add('m', 'Next image mode (input, attribution, overlay)', () => {
    const order = MODES.map(([value]) => value);
    store.set({ mode: order[(order.indexOf(store.state.mode) + 1) % order.length] });
  });
  shortcuts.add('p', 'Toggle pixelated / smooth images', () =>
    store.set({ sampling: store.state.sampling === 'pixelated' ? 'smooth' : 'pixelated' }),
  );
}
