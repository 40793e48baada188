// Faithfulness panel: the project's perturbation curves (MoRF and LeRF, mean with its bootstrap
// 95 % band per method, from the evaluation file the project names) and, for the selection, the
// mean curve of the selected samples against the data set's.

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

function el(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function path(points) {
  return points.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
}

function chart(title, order, summary, selection, focus) {
  const width = 260;
  const height = 130;
  const left = 34;
  const bottom = 16;
  const top = 14;
  const methods = Object.entries(summary.methods).filter(([, m]) => m.curves[order]);
  const values = methods.flatMap(([, m]) => [...m.curves[order].ci_low, ...m.curves[order].ci_high]);
  if (selection && selection.methods[focus] && selection.methods[focus][order]) {
    values.push(...selection.methods[focus][order]);
  }
  const low = Math.min(...values);
  const high = Math.max(...values);
  const steps = methods.length ? methods[0][1].curves[order].mean.length - 1 : 1;
  const sx = (k) => left + ((width - left - 4) * k) / Math.max(1, steps);
  const sy = (v) => top + (height - top - bottom) * (1 - (v - low) / (high - low || 1));
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'data-order': order });
  const label = el('text', { x: left, y: 10, class: 'title' });
  label.textContent = title;
  svg.append(label);
  for (const tick of [low, high]) {
    const text = el('text', { x: left - 3, y: sy(tick) + 3, class: 'tick', 'text-anchor': 'end' });
    text.textContent = Number(tick.toPrecision(3)).toString();
    svg.append(text, el('line', { x1: left, x2: width - 4, y1: sy(tick), y2: sy(tick), class: 'grid' }));
  }
  methods.forEach(([name, method], i) => {
    const curve = method.curves[order];
    const colour = COLOURS[i % COLOURS.length];
    const upper = curve.ci_high.map((v, k) => [sx(k), sy(v)]);
    const lower = curve.ci_low.map((v, k) => [sx(k), sy(v)]).reverse();
    svg.append(el('path', { d: `${path([...upper, ...lower])}Z`, fill: colour, class: 'band' }));
    const line = el('path', { d: path(curve.mean.map((v, k) => [sx(k), sy(v)])), stroke: colour, class: 'curve' });
    line.dataset.method = name;
    svg.append(line);
  });
  if (selection && selection.methods[focus] && selection.methods[focus][order]) {
    const mean = selection.methods[focus][order];
    const line = el('path', { d: path(mean.map((v, k) => [sx(k), sy(v)])), class: 'curve selection' });
    line.dataset.method = focus;
    svg.append(line);
  }
  return svg;
}

export function mount(element, { store }) {
  element.innerHTML = `<h2>Faithfulness</h2><div class="faithfulness"></div>`;
  const box = element.querySelector('.faithfulness');
  let summary = null;
  let selection = null;
  let loadedFor = null;
  let pending = 0;

  function focusMethod() {
    if (!summary) return null;
    const names = Object.keys(summary.methods);
    return names.includes(summary.attribution_method) ? summary.attribution_method : names[0];
  }

  function render() {
    box.replaceChildren();
    box.dataset.available = summary && summary.available ? '1' : '0';
    box.dataset.selected = selection ? String(selection.count) : '0';
    if (!summary || !summary.available) {
      const note = document.createElement('p');
      note.className = 'muted';
      note.textContent = summary ? 'no evaluation file in this project' : 'loading';
      box.append(note);
      return;
    }
    const focus = focusMethod();
    box.append(chart('MoRF (most relevant first)', 'morf', summary, selection, focus));
    box.append(chart('LeRF (least relevant first)', 'lerf', summary, selection, focus));
    const legend = document.createElement('ul');
    legend.className = 'legend';
    Object.entries(summary.methods).forEach(([name, method], i) => {
      const item = document.createElement('li');
      item.dataset.method = name;
      const aopc = method.scores.aopc;
      const text = aopc ? ` AOPC ${aopc.mean.toPrecision(3)} [${aopc.ci_low.toPrecision(3)}, ${aopc.ci_high.toPrecision(3)}]` : '';
      item.innerHTML = `<span class="swatch" style="background:${COLOURS[i % COLOURS.length]}"></span>`;
      item.append(document.createTextNode(`${name}${text}`));
      legend.append(item);
    });
    if (selection && selection.count) {
      const item = document.createElement('li');
      item.className = 'selection-note';
      item.innerHTML = '<span class="swatch dashed"></span>';
      item.append(document.createTextNode(`${selection.count} selected (${focus}), dashed`));
      legend.append(item);
    }
    box.append(legend);
  }

  async function loadProject() {
    const project = store.state.project;
    if (!project || project === loadedFor) return;
    loadedFor = project;
    summary = null;
    selection = null;
    render();
    const response = await fetch(`/panels/faithfulness/projects/${encodeURIComponent(project)}`);
    const data = await response.json();
    if (loadedFor !== project) return;
    summary = response.ok ? data : { available: false };
    render();
    await loadSelection();
  }

  async function loadSelection() {
    if (!summary || !summary.available) return;
    const project = loadedFor;
    const indices = Array.from(store.state.selection);
    const ticket = ++pending;
    if (!indices.length) {
      selection = null;
      render();
      return;
    }
    const response = await fetch(`/panels/faithfulness/projects/${encodeURIComponent(project)}/selection`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ indices }),
    });
    const data = await response.json();
    if (ticket !== pending || project !== loadedFor) return;
    selection = response.ok ? data : null;
    render();
  }

  store.on('state', ({ changed }) => {
    if (changed.has('project')) loadProject();
  });
  store.on('selection', () => loadSelection());
  render();
  loadProject();
}
