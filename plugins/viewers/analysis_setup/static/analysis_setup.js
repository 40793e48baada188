// Analysis setup: analysis method, category ("name (id)"), clustering, embedding, and the X/Y
// dimensions to plot when the embedding has more than two.

const FIELDS = [
  ['analysis', 'Analysis'],
  ['category', 'Category'],
  ['clustering', 'Clustering'],
  ['embedding', 'Embedding'],
];

/** "name (id)", with the separability score when the analysis ranked its categories. */
export function categoryText(category) {
  const text = `${category.name} (${category.id})`;
  const score = category.separability;
  return score === null || score === undefined ? text : `${text} · ${formatScore(score)}`;
}

export function formatScore(score) {
  return Number(score.toPrecision(3)).toString();
}

export function mount(element, { store, shortcuts }) {
  element.innerHTML = `<h2>Analysis</h2>
    ${FIELDS.map(
      ([key, text]) =>
        `<label class="field">${text}<select name="${key}" data-setup="${key}"></select></label>`,
    ).join('')}
    <div class="dims" hidden>
      <label class="field">X dimension<select name="xdim" data-setup="xdim"></select></label>
      <label class="field">Y dimension<select name="ydim" data-setup="ydim"></select></label>
    </div>
    <p class="setup-summary muted"></p>`;
  const selects = Object.fromEntries(
    [...element.querySelectorAll('select')].map((select) => [select.name, select]),
  );
  const dims = element.querySelector('.dims');
  const summary = element.querySelector('.setup-summary');

  function fill(select, options, value) {
    select.replaceChildren(
      ...options.map(([optionValue, text]) => {
        const option = document.createElement('option');
        option.value = String(optionValue);
        option.textContent = text;
        return option;
      }),
    );
    select.disabled = options.length === 0;
    if (value !== null && value !== undefined) select.value = String(value);
  }

  function render() {
    const project = store.project;
    const s = store.state;
    if (!project) return;
    fill(selects.analysis, project.analyses.map((a) => [a.method, a.method]), s.analysis);
    const analysis = store.currentAnalysis();
    const categories = analysis
      ? analysis.categories.map((c) => [c.id, categoryText(c)])
      : [];
    fill(selects.category, categories, s.category);
    fill(selects.clustering, analysis ? analysis.clusterings.map((c) => [c, c]) : [], s.clustering);
    const embeddings = analysis ? analysis.embeddings : [];
    fill(
      selects.embedding,
      embeddings.map((e) => [e.name, `${e.name} (${e.dims}-d${e.eigenvalues ? ', eigenvalues' : ''})`]),
      s.embedding,
    );
    const embedding = embeddings.find((e) => e.name === s.embedding);
    const count = embedding ? embedding.dims : 2;
    const dimOptions = Array.from({ length: count }, (_, i) => [i, `dimension ${i}`]);
    fill(selects.xdim, dimOptions, s.xdim);
    fill(selects.ydim, dimOptions, s.ydim);
    dims.hidden = count <= 2;
    const category = analysis && analysis.categories.find((c) => c.id === s.category);
    summary.textContent = category ? `${category.count} points in this category` : '';
  }

  element.addEventListener('change', (event) => {
    const select = event.target.closest('select[data-setup]');
    if (!select) return;
    const key = select.dataset.setup;
    const value = key === 'xdim' || key === 'ydim' ? Number(select.value) : select.value;
    const patch = { [key]: value };
    // a new category shows other samples: the old selection no longer applies
    if (key === 'category') Object.assign(patch, { selection: new Int32Array(0), page: 0 });
    store.set(patch);
  });

  const KEYS = new Set(['project', ...FIELDS.map(([key]) => key), 'xdim', 'ydim']);
  store.on('project', render);
  store.on('state', ({ changed }) => {
    if ([...changed].some((key) => KEYS.has(key))) render();
  });

  function cycle(key, step) {
    const select = selects[key];
    if (select.disabled || !select.options.length) return;
    const next = (select.selectedIndex + step + select.options.length) % select.options.length;
    select.selectedIndex = next;
    select.dispatchEvent(new Event('change', { bubbles: true }));
  }
  shortcuts.add('k', 'Next clustering', () => cycle('clustering', 1));
  shortcuts.add('K', 'Previous clustering', () => cycle('clustering', -1));
  shortcuts.add('e', 'Next embedding', () => cycle('embedding', 1));
  shortcuts.add('g', 'Next category', () => cycle('category', 1));
}
