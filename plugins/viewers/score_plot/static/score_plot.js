// Score plot: the category's eigenvalues as a bar plot, whatever 2-D view is shown (the server
// sends the eigenvalues of the embedding that carries them); a note when the analysis has none.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function mount(element, { store }) {
  element.innerHTML = `<h2>Eigenvalues</h2><div class="score-plot"></div>`;
  const box = element.querySelector('.score-plot');
  const heading = element.querySelector('h2');

  function render() {
    const points = store.points;
    const values = points && points.eigenvalues;
    box.replaceChildren();
    box.dataset.bars = '0';
    if (!values || !values.length) {
      const note = document.createElement('p');
      note.className = 'muted';
      note.textContent = points ? `this analysis has no eigenvalues` : 'no embedding loaded';
      box.append(note);
      return;
    }
    const width = 260;
    const height = 150;
    const left = 36;
    const bottom = 20;
    const top = 6;
    const plotW = width - left - 4;
    const plotH = height - bottom - top;
    const low = Math.min(0, ...values);
    const high = niceMax(Math.max(...values.map(Math.abs)));
    const scale = (v) => top + plotH * (1 - (v - low) / (high - low || 1));
    const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
    svg.append(el('title'));
    const source = points.eigenvalues_of || points.embedding;
    svg.firstChild.textContent = `${values.length} eigenvalues of ${source}`;
    heading.textContent = `Eigenvalues (${source})`;
    for (const tick of [0, high / 2, high]) {
      const y = scale(tick);
      svg.append(el('line', { x1: left, x2: width - 4, y1: y, y2: y, class: 'grid' }));
      const label = el('text', { x: left - 4, y: y + 3, class: 'tick', 'text-anchor': 'end' });
      label.textContent = Number(tick.toPrecision(3)).toString();
      svg.append(label);
    }
    const slot = plotW / values.length;
    const barW = Math.max(1, slot * 0.75);
    values.forEach((value, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      const y0 = scale(Math.max(value, 0));
      const y1 = scale(Math.min(value, 0));
      const bar = el('rect', { x, y: y0, width: barW, height: Math.max(0.5, y1 - y0), class: 'bar' });
      bar.dataset.index = i;
      const title = el('title');
      title.textContent = `λ${i} = ${Number(value.toPrecision(5))}`;
      bar.append(title);
      svg.append(bar);
    });
    const step = Math.ceil(values.length / 10);
    for (let i = 0; i < values.length; i += step) {
      const label = el('text', { x: left + (i + 0.5) * slot, y: height - 6, class: 'tick', 'text-anchor': 'middle' });
      label.textContent = String(i);
      svg.append(label);
    }
    box.append(svg);
    box.dataset.bars = String(values.length);
  }

  store.on('points', render);
  render();
}
