// Colour map: a select of the registered colour maps with a gradient bar (low left, high right)
// rendered by the server from the same lookup table the heatmaps use.

export function mount(element, { store, api, shortcuts }) {
  element.innerHTML = `<h2>Colour map</h2>
    <label class="field">Heatmap colours<select name="colormap"></select></label>
    <img class="colormap-bar" alt="colour map preview" width="256" height="14">
    <div class="colormap-ends muted"><span>low</span><span>0</span><span>high</span></div>`;
  const select = element.querySelector('select');
  const bar = element.querySelector('.colormap-bar');

  function renderOptions() {
    select.replaceChildren(
      ...store.colormaps.map((cmap) => {
        const option = document.createElement('option');
        option.value = cmap.name;
        option.textContent = cmap.name;
        option.title = cmap.description || '';
        return option;
      }),
    );
    renderValue();
  }

  function renderValue() {
    const name = store.state.colormap;
    if (!name) return;
    select.value = name;
    bar.src = api.colormapBarUrl(name);
    bar.title = name;
  }

  select.addEventListener('change', () => store.set({ colormap: select.value }));
  store.on('colormaps', renderOptions);
  store.on('state', ({ changed }) => changed.has('colormap') && renderValue());
  shortcuts.add('c', 'Next colour map', () => {
    const names = store.colormaps.map((c) => c.name);
    if (!names.length) return;
    const next = names[(names.indexOf(store.state.colormap) + 1) % names.length];
    store.set({ colormap: next });
  });
}
