// Sample strip: the selected samples in the chosen mode and colour map, a page at a time through
// the whole selection; a click opens the sample with its labels, prediction and all three views.

import { tokenText } from '/static/explorer/token_text.js';

const PAGE_SIZES = [20, 50, 100, 200];

export function mount(element, { store, api, shortcuts }) {
  element.innerHTML = `
    <div class="strip-bar">
      <h2>Samples</h2>
      <span class="selection-count" id="selection-count" aria-live="polite">0 selected</span>
      <div class="pager">
        <button type="button" class="page-prev" title="Previous page ([)" aria-label="previous page">‹</button>
        <span class="page-info"></span>
        <button type="button" class="page-next" title="Next page (])" aria-label="next page">›</button>
        <select class="page-size" aria-label="samples per page">
          ${PAGE_SIZES.map((n) => `<option value="${n}">${n} per page</option>`).join('')}
        </select>
      </div>
      <button type="button" class="clear-selection" title="Clear the selection (Esc)">Clear</button>
    </div>
    <div class="strip" role="list"></div>
    <p class="strip-empty muted">Select points in the embedding (drag a rectangle, L for lasso) or
      click a cluster.</p>
    <dialog class="sample-dialog"></dialog>`;
  const strip = element.querySelector('.strip');
  const empty = element.querySelector('.strip-empty');
  const count = element.querySelector('.selection-count');
  const info = element.querySelector('.page-info');
  const prev = element.querySelector('.page-prev');
  const next = element.querySelector('.page-next');
  const pageSize = element.querySelector('.page-size');
  const dialog = element.querySelector('.sample-dialog');

  function pages() {
    return Math.max(1, Math.ceil(store.selectedCount / store.state.pageSize));
  }

  function urlFor(index) {
    const s = store.state;
    const version = store.project && store.project.version;
    const mode = store.project && store.project.has_attributions ? s.mode : 'input';
    return api.sampleUrl(s.project, index, mode, s.colormap, version);
  }

  function isTokens() {
    return Boolean(store.project && store.project.data_type === 'tokens');
  }

  function viewMode() {
    return store.project && store.project.has_attributions ? store.state.mode : 'input';
  }

  /** Fill ``holder`` with the text of token sample ``index`` in ``mode`` (fetched per call). */
  async function fillTokens(holder, index, mode) {
    const s = store.state;
    try {
      const doc = await api.tokens(s.project, index, s.colormap);
      holder.replaceChildren(tokenText(doc, mode));
      if (!doc.relevance) holder.closest('figure')?.classList.add('no-attribution');
    } catch (error) {
      holder.textContent = error.message;
    }
  }

  function caption(index) {
    const points = store.points;
    const position = store.positionOf(index);
    if (!points || position < 0) return `#${index}`;
    const label = store.labelName(points.label[position]);
    const predicted = points.prediction[position];
    const prediction = predicted >= 0 ? ` → ${store.labelName(predicted)}` : '';
    return `#${index} ${label}${prediction}`;
  }

  /** The selection in strip order: by a panel's scores (``store.scores``) when one is set,
   * highest first (unknown last, ties by index), otherwise by index. */
  let ordered = { selection: null, scores: null, indices: null };
  function orderedSelection() {
    const s = store.state;
    const scores = store.scores;
    if (!scores) return s.selection;
    if (ordered.selection !== s.selection || ordered.scores !== scores) {
      const table = scores.table;
      const score = (index) => {
        const value = index < table.length ? table[index] : NaN;
        return Number.isNaN(value) ? -Infinity : value;
      };
      const indices = Array.from(s.selection);
      indices.sort((a, b) => score(b) - score(a) || a - b);
      ordered = { selection: s.selection, scores, indices: Int32Array.from(indices) };
    }
    return ordered.indices;
  }

  function render() {
    const s = store.state;
    const total = store.selectedCount;
    const page = Math.min(s.page, pages() - 1);
    const start = page * s.pageSize;
    const indices = orderedSelection().subarray(start, start + s.pageSize);
    strip.dataset.order = store.scores ? 'scores' : 'index';
    count.textContent = `${total} selected`;
    count.dataset.count = String(total);
    info.textContent = total ? `${start + 1}–${start + indices.length} of ${total}` : '';
    prev.disabled = page <= 0;
    next.disabled = page >= pages() - 1;
    pageSize.value = String(s.pageSize);
    empty.hidden = total > 0;
    strip.replaceChildren();
    strip.classList.toggle('token-strip', isTokens());
    for (const index of indices) {
      const figure = document.createElement('figure');
      figure.className = 'sample';
      figure.dataset.index = String(index);
      figure.setAttribute('role', 'listitem');
      figure.tabIndex = 0;
      const text = document.createElement('figcaption');
      text.textContent = caption(index);
      if (isTokens()) {
        figure.classList.add('token-sample');
        const holder = document.createElement('div');
        holder.className = 'token-holder';
        fillTokens(holder, index, viewMode());
        figure.append(holder, text);
        strip.append(figure);
        continue;
      }
      const img = document.createElement('img');
      img.className = 'sample-image';
      img.alt = `sample ${index}`;
      img.decoding = 'async';
      img.src = urlFor(index);
      img.addEventListener('error', () => {
        // no attribution stored for this sample: show its input instead, and say so
        const input = api.imageUrl(store.state.project, index, store.project && store.project.version);
        if (img.src.endsWith(input)) return;
        img.src = input;
        figure.classList.add('no-attribution');
        text.textContent = `${caption(index)} (no attribution)`;
      });
      figure.append(img, text);
      strip.append(figure);
    }
    strip.dataset.count = String(indices.length);
    strip.dataset.page = String(page);
  }

  function refreshImages() {
    for (const figure of strip.children) {
      if (figure.classList.contains('token-sample')) {
        fillTokens(figure.querySelector('.token-holder'), Number(figure.dataset.index), viewMode());
        continue;
      }
      figure.querySelector('img').src = urlFor(Number(figure.dataset.index));
    }
  }

  function setPage(page) {
    store.set({ page: Math.max(0, Math.min(page, pages() - 1)) });
  }

  async function openSample(index) {
    const s = store.state;
    dialog.innerHTML = `<h2>Sample ${index}</h2><p class="muted">loading…</p>`;
    dialog.showModal();
    try {
      const sample = await api.sample(s.project, index);
      const views = store.project.has_attributions ? ['input', 'attribution', 'overlay'] : ['input'];
      if (isTokens()) {
        const doc = await api.tokens(s.project, index, s.colormap);
        dialog.innerHTML = `<h2>Sample ${index}</h2><div class="sample-views"></div>
          <form method="dialog"><button>Close</button></form>`;
        for (const mode of views) {
          const figure = document.createElement('figure');
          const label = document.createElement('figcaption');
          label.textContent = mode;
          figure.append(tokenText(doc, mode), label);
          dialog.querySelector('.sample-views').append(figure);
        }
        return;
      }
      const labels = sample.labels.map((l) => `${l.name} (${l.index})`).join(', ') || 'none';
      const top = sample.prediction
        ? sample.prediction.top.map((p) => `${p.name} ${p.score.toFixed(3)}`).join(', ')
        : 'no prediction stored';
      dialog.innerHTML = `<h2>Sample ${index}</h2>
        <div class="sample-views">${views
          .map(
            (mode) => `<figure><img class="sample-image" alt="${mode}" src="${api.sampleUrl(
              s.project, index, mode, s.colormap, store.project.version)}"><figcaption>${mode}</figcaption></figure>`,
          )
          .join('')}</div>
        <dl><dt>labels</dt><dd></dd><dt>prediction</dt><dd></dd><dt>size</dt><dd></dd></dl>
        <form method="dialog"><button>Close</button></form>`;
      const cells = dialog.querySelectorAll('dd');
      cells[0].textContent = labels;
      cells[1].textContent = top;
      cells[2].textContent = sample.size.join(' × ');
    } catch (error) {
      dialog.querySelector('p').textContent = error.message;
    }
  }

  prev.addEventListener('click', () => setPage(store.state.page - 1));
  next.addEventListener('click', () => setPage(store.state.page + 1));
  pageSize.addEventListener('change', () => store.set({ pageSize: Number(pageSize.value), page: 0 }));
  element.querySelector('.clear-selection').addEventListener('click', () => store.clearSelection());
  strip.addEventListener('click', (event) => {
    const figure = event.target.closest('figure.sample');
    if (figure) openSample(Number(figure.dataset.index));
  });
  strip.addEventListener('keydown', (event) => {
    const figure = event.target.closest('figure.sample');
    if (figure && event.key === 'Enter') openSample(Number(figure.dataset.index));
  });
  strip.addEventListener('mouseover', (event) => {
    const figure = event.target.closest('figure.sample');
    store.setHover(figure ? store.positionOf(Number(figure.dataset.index)) : -1);
  });
  strip.addEventListener('mouseleave', () => store.setHover(-1));

  store.on('selection', render);
  store.on('scores', () => (store.state.page ? store.set({ page: 0 }) : render()));
  store.on('points', render);
  store.on('state', ({ changed }) => {
    if (changed.has('page') || changed.has('pageSize')) render();
    else if (changed.has('mode') || changed.has('colormap')) refreshImages();
  });
  shortcuts.add(']', 'Next page of samples', () => setPage(store.state.page + 1));
  shortcuts.add('[', 'Previous page of samples', () => setPage(store.state.page - 1));
  render();
}
