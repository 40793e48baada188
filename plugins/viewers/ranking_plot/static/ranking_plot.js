// Ranking plot: one bar per category, best-separated first (the order the analysis ranked them),
// the current category highlighted; a click on a bar opens that category with its best clustering.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

export function mount(element, { store }) {
  element.innerHTML = `<h2>Class ranking</h2><div class="ranking-plot"></div>`;
  const box = element.querySelector('.ranking-plot');

  function render() {
    const analysis = store.currentAnalysis();
    const scored = analysis ? analysis.categories.filter((c) => c.separability !== null) : [];
    box.replaceChildren();
    box.dataset.bars = String(scored.length);
    if (!scored.length) {
      const note = document.createElement('p');
      note.className = 'muted';
      note.textContent = analysis ? 'this analysis has no separability scores' : '';
      box.append(note);
      return;
    }
    const width = 260;
    const row = 14;
    const left = 70;
    const right = 34;
    const height = row * scored.length + 4;
    const high = Math.max(...scored.map((c) => c.separability)) || 1;
    const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
    const title = el('title');
    title.textContent = 'categories ranked by the separability of their best clustering';
    svg.append(title);
    scored.forEach((category, i) => {
      const y = 2 + i * row;
      const group = el('g', { class: 'rank', 'data-category': category.id });
      if (category.id === store.state.category) group.classList.add('current');
      const label = el('text', { x: left - 4, y: y + row - 4, class: 'tick', 'text-anchor': 'end' });
      label.textContent = category.name;
      const w = Math.max(1, ((width - left - right) * category.separability) / high);
      const bar = el('rect', { x: left, y: y + 1, width: w, height: row - 3, class: 'bar' });
      bar.dataset.score = String(category.separability);
      const value = el('text', { x: left + w + 3, y: y + row - 4, class: 'tick' });
      value.textContent = Number(category.separability.toPrecision(3)).toString();
      const tip = el('title');
      tip.textContent = `${category.name} (${category.id}): ${category.separability} (${category.best_clustering})`;
      group.append(tip, label, bar, value);
      group.addEventListener('click', () => open(category));
      svg.append(group);
    });
    box.append(svg);
  }

  function open(category) {
    if (category.id === store.state.category) return;
    const analysis = store.currentAnalysis();
    const patch = { category: category.id, selection: new Int32Array(0), page: 0 };
    if (analysis && analysis.clusterings.includes(category.best_clustering)) {
      patch.clustering = category.best_clustering;
    }
    store.set(patch);
  }

  store.on('project', render);
  store.on('state', ({ changed }) => {
    if (changed.has('analysis') || changed.has('category') || changed.has('project')) render();
  });
  render();
}
