// Concept panel: for the selected samples (all samples when none is selected) the concepts of a
// layer with the largest mean |relevance| as signed bars; a click on a bar opens the concept: its
// reference samples (RelMax, or ActMax with the toggle) with their stored conditional heatmaps,
// its heatmap on the selected samples where concepts.h5 stores one, and the concept's relevance
// handed to the other panels through the store (``store.scores`` + the 'scores' event): the
// embedding colours its points by it and the sample strip sorts the selection by it.

const SHOWN = 10; // bars
const ON_SAMPLES = 6; // selected samples shown with the open concept

function enc(value) {
  return encodeURIComponent(value);
}

function format(value) {
  return Math.abs(value) >= 100 || (Math.abs(value) < 0.01 && value !== 0)
    ? value.toExponential(2)
    : value.toFixed(3);
}

export function mount(element, { store, api }) {
  element.innerHTML = `<h2>Concepts</h2>
    <div class="concepts" data-available="0">
      <div class="concept-controls">
        <label>Layer <select name="concept-layer" aria-label="concept layer"></select></label>
        <div class="segmented concept-kinds" role="radiogroup" aria-label="reference samples by">
          <button type="button" data-kind="relmax" title="reference samples by relevance">RelMax</button>
          <button type="button" data-kind="actmax" title="reference samples by activation">ActMax</button>
        </div>
      </div>
      <p class="concept-note muted">loading</p>
      <ol class="concept-bars"></ol>
      <div class="concept-detail" hidden>
        <h3 class="concept-title"></h3>
        <div class="concept-references"></div>
        <h3>On the selected samples</h3>
        <div class="concept-samples"></div>
      </div>
    </div>`;
  const box = element.querySelector('.concepts');
  const layerSelect = element.querySelector('select[name="concept-layer"]');
  const kindButtons = [...element.querySelectorAll('[data-kind]')];
  const note = element.querySelector('.concept-note');
  const bars = element.querySelector('.concept-bars');
  const detail = element.querySelector('.concept-detail');
  const title = element.querySelector('.concept-title');
  const references = element.querySelector('.concept-references');
  const onSamples = element.querySelector('.concept-samples');

  let summary = null;
  let project = null;
  let kind = 'relmax';
  let focus = null; // {layer, channel, document}
  let ticket = 0;

  const base = () => `/panels/concepts/projects/${enc(project)}`;
  const channelBase = (layer, channel) => `${base()}/layers/${enc(layer)}/channels/${channel}`;
  const colormapQuery = () => (store.state.colormap ? `?colormap=${enc(store.state.colormap)}` : '');

  function setScores(scores) {
    store.scores = scores;
    store.emit('scores', scores);
  }

  function renderKinds() {
    for (const button of kindButtons) {
      button.setAttribute('aria-pressed', String(button.dataset.kind === kind));
    }
    box.dataset.kind = kind;
  }

  function renderBars(result) {
    bars.replaceChildren();
    const largest = Math.max(1e-30, ...result.concepts.map((c) => Math.abs(c.relevance)));
    for (const concept of result.concepts) {
      const item = document.createElement('li');
      item.className = 'concept-bar';
      item.dataset.channel = String(concept.channel);
      item.dataset.value = String(concept.relevance);
      item.dataset.sign = concept.relevance > 0 ? '1' : concept.relevance < 0 ? '-1' : '0';
      item.tabIndex = 0;
      item.title = `channel ${concept.channel}: mean relevance ${concept.relevance}, mean activation ${concept.activation}`;
      const name = document.createElement('span');
      name.className = 'concept-name';
      name.textContent = `#${concept.channel}`;
      const track = document.createElement('span');
      track.className = 'concept-track';
      const bar = document.createElement('span');
      bar.className = `concept-fill ${concept.relevance >= 0 ? 'positive' : 'negative'}`;
      bar.style.width = `${(50 * Math.abs(concept.relevance)) / largest}%`;
      track.append(bar);
      const value = document.createElement('span');
      value.className = 'concept-value';
      value.textContent = format(concept.relevance);
      item.append(name, track, value);
      if (focus && focus.channel === concept.channel) item.classList.add('focused');
      bars.append(item);
    }
    const what = result.all ? `all ${result.count} samples` : `${result.count} selected in the file`;
    note.textContent = `${what}: mean relevance per concept of ${result.layer}`;
    box.dataset.count = String(result.count);
    box.dataset.bars = result.concepts.map((c) => c.channel).join(',');
  }

  async function loadBars() {
    const layer = layerSelect.value;
    if (!summary || !summary.available || !layer) return;
    const mine = ++ticket;
    const selection = Array.from(store.state.selection);
    const response = await fetch(`${base()}/layers/${enc(layer)}/selection`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ indices: selection.length ? selection : null, top: SHOWN }),
    });
    const result = await response.json();
    if (mine !== ticket) return;
    if (!response.ok) {
      note.textContent = result.error || 'error';
      return;
    }
    renderBars(result);
    box.dataset.loaded = String(mine);
    if (focus) renderOnSamples();
  }

  function figure(src, caption, className) {
    const item = document.createElement('figure');
    item.className = className;
    const img = document.createElement('img');
    img.className = 'concept-image';
    img.decoding = 'async';
    img.src = src;
    img.alt = caption;
    const text = document.createElement('figcaption');
    text.textContent = caption;
    item.append(img, text);
    return item;
  }

  function renderReferences() {
    const doc = focus.document;
    title.textContent = `${doc.layer} #${doc.channel}: ${kind === 'relmax' ? 'RelMax' : 'ActMax'} references`;
    references.replaceChildren(
      ...doc.references.map((reference) => {
        const src = `${channelBase(doc.layer, doc.channel)}/references/${kind}/${reference.rank}.png${colormapQuery()}`;
        const item = figure(src, `#${reference.index} ${format(reference.value)}`, 'concept-reference');
        item.dataset.index = String(reference.index);
        item.dataset.rank = String(reference.rank);
        return item;
      }),
    );
    references.dataset.kind = kind;
    references.dataset.count = String(doc.references.length);
  }

  async function renderOnSamples() {
    const doc = focus.document;
    const table = store.scores && store.scores.table;
    const score = (index) => {
      const value = table && index < table.length ? table[index] : NaN;
      return Number.isNaN(value) ? -Infinity : value;
    };
    const selection = Array.from(store.state.selection);
    selection.sort((a, b) => score(b) - score(a) || a - b);
    const shown = selection.slice(0, ON_SAMPLES);
    const mine = focus;
    const items = await Promise.all(
      shown.map(async (index) => {
        const url = `${channelBase(doc.layer, doc.channel)}/samples/${index}`;
        const response = await fetch(url);
        if (!response.ok) return null;
        const sample = await response.json();
        const value = `R ${format(sample.relevance)}`;
        if (sample.heatmap) {
          const item = figure(`${url}/heatmap.png${colormapQuery()}`, `#${index} ${value}`, 'concept-sample stored');
          item.dataset.index = String(index);
          return item;
        }
        // concepts.h5 stores conditional heatmaps of reference samples only: show the input
        const version = store.project && store.project.version;
        const item = figure(api.imageUrl(project, index, version), `#${index} ${value} (no stored heatmap)`, 'concept-sample not-stored');
        item.dataset.index = String(index);
        return item;
      }),
    );
    if (mine !== focus) return;
    onSamples.replaceChildren(...items.filter(Boolean));
    if (!shown.length) {
      const empty = document.createElement('p');
      empty.className = 'muted';
      empty.textContent = 'select samples to see the concept on them';
      onSamples.append(empty);
    }
  }

  async function openConcept(channel) {
    const layer = layerSelect.value;
    if (focus && focus.channel === channel && focus.layer === layer) {
      closeConcept();
      return;
    }
    const response = await fetch(`${channelBase(layer, channel)}?kind=${kind}`);
    const doc = await response.json();
    if (!response.ok) {
      store.message(doc.error || 'concept not found', 'error');
      return;
    }
    focus = { layer, channel, document: doc };
    let max = -1;
    for (const index of doc.index) if (index > max) max = index;
    const table = new Float64Array(max + 1).fill(NaN);
    doc.index.forEach((index, row) => {
      table[index] = doc.relevance[row];
    });
    setScores({ label: `${layer} #${channel} relevance`, table });
    for (const item of bars.children) {
      item.classList.toggle('focused', Number(item.dataset.channel) === channel);
    }
    detail.hidden = false;
    box.dataset.focus = `${layer}:${channel}`;
    renderReferences();
    renderOnSamples();
  }

  function closeConcept() {
    focus = null;
    detail.hidden = true;
    delete box.dataset.focus;
    for (const item of bars.children) item.classList.remove('focused');
    if (store.scores) setScores(null);
  }

  async function setKind(next) {
    if (next === kind) return;
    kind = next;
    renderKinds();
    if (!focus) return;
    const response = await fetch(`${channelBase(focus.layer, focus.channel)}?kind=${kind}`);
    if (!response.ok || !focus) return;
    focus.document = await response.json();
    renderReferences();
  }

  async function loadProject() {
    if (!store.state.project || store.state.project === project) return;
    project = store.state.project;
    closeConcept();
    summary = null;
    bars.replaceChildren();
    note.textContent = 'loading';
    const response = await fetch(base());
    const data = await response.json();
    if (project !== store.state.project) return;
    summary = response.ok ? data : { available: false, layers: [] };
    box.dataset.available = summary.available ? '1' : '0';
    element.hidden = !summary.available;
    layerSelect.replaceChildren(
      ...summary.layers.map((layer) => {
        const option = document.createElement('option');
        option.value = layer.name;
        option.textContent = `${layer.name} (${layer.channels})`;
        return option;
      }),
    );
    if (!summary.available) {
      note.textContent = 'no concepts file in this project';
      return;
    }
    await loadBars();
  }

  bars.addEventListener('click', (event) => {
    const item = event.target.closest('.concept-bar');
    if (item) openConcept(Number(item.dataset.channel));
  });
  bars.addEventListener('keydown', (event) => {
    const item = event.target.closest('.concept-bar');
    if (item && event.key === 'Enter') openConcept(Number(item.dataset.channel));
  });
  for (const button of kindButtons) button.addEventListener('click', () => setKind(button.dataset.kind));
  layerSelect.addEventListener('change', () => {
    closeConcept();
    loadBars();
  });
  store.on('state', ({ changed }) => {
    if (changed.has('project')) loadProject();
    else if (changed.has('colormap') && focus) {
      renderReferences();
      renderOnSamples();
    }
  });
  store.on('selection', () => loadBars());
  store.on('scores', (scores) => {
    // another panel (the canvas's colour select) dropped the concept colouring
    if (!scores && focus) closeConcept();
  });
  renderKinds();
  loadProject();
}
