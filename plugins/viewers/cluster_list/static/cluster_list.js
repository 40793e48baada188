// Cluster list: one entry per cluster of the current clustering with its colour, point count and
// prototype (the mean heatmap of its members); a click selects the cluster, shift-click adds it.

export function mount(element, { store, api, palette }) {
  element.innerHTML = `<h2>Clusters</h2>
    <label class="prototype-toggle muted"><input type="checkbox" checked> prototypes (mean heatmap)</label>
    <ul class="cluster-list" role="listbox" aria-multiselectable="true"></ul>`;
  const list = element.querySelector('.cluster-list');
  const toggle = element.querySelector('.prototype-toggle input');
  let clusters = []; // [{id, count, positions}]

  function collect(points) {
    const byId = new Map();
    for (let i = 0; i < points.count; i++) {
      const id = points.cluster[i];
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id).push(i);
    }
    return [...byId.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([id, positions]) => ({ id, count: positions.length, positions }));
  }

  function prototypeUrl(id) {
    const s = store.state;
    const params = { category: s.category, clustering: s.clustering, cluster: id, colormap: s.colormap };
    return api.prototypeUrl(s.project, s.analysis, params, store.project && store.project.version);
  }

  /** A token project's prototype: the tokens with the highest mean relevance in the cluster. */
  async function fillTokenPrototype(holder, id) {
    const s = store.state;
    const params = { category: s.category, clustering: s.clustering, cluster: id, top: 3 };
    try {
      const doc = await api.tokenPrototype(s.project, s.analysis, params);
      holder.replaceChildren(
        ...doc.tokens.map((entry) => {
          const span = document.createElement('span');
          span.className = 'prototype-token';
          span.dataset.token = entry.token;
          span.textContent = entry.token;
          span.title = `mean relevance ${entry.mean_relevance.toPrecision(3)}`;
          return span;
        }),
      );
    } catch (error) {
      holder.textContent = error.message;
    }
  }

  function render() {
    const points = store.points;
    const tokens = store.project && store.project.data_type === 'tokens';
    toggle.parentElement.lastChild.textContent = tokens
      ? ' prototypes (most relevant tokens)'
      : ' prototypes (mean heatmap)';
    list.replaceChildren();
    clusters = points ? collect(points) : [];
    const showPrototypes = toggle.checked && store.project && store.project.has_attributions;
    for (const cluster of clusters) {
      const item = document.createElement('li');
      item.className = 'cluster';
      item.dataset.cluster = cluster.id;
      item.dataset.count = cluster.count;
      item.setAttribute('role', 'option');
      item.tabIndex = 0;
      const name = cluster.id < 0 ? 'noise' : `cluster ${cluster.id}`;
      item.innerHTML = `<span class="swatch"></span><span class="cluster-name"></span>
        <span class="cluster-count"></span>`;
      item.querySelector('.swatch').style.background = palette.categoryCss(cluster.id);
      item.querySelector('.cluster-name').textContent = name;
      item.querySelector('.cluster-count').textContent = String(cluster.count);
      if (showPrototypes && store.project.data_type === 'tokens') {
        const tokens = document.createElement('span');
        tokens.className = 'token-prototype';
        item.append(tokens);
        fillTokenPrototype(tokens, cluster.id);
      } else if (showPrototypes) {
        const img = document.createElement('img');
        img.className = 'prototype sample-image';
        img.loading = 'lazy';
        img.alt = `mean heatmap of ${name}`;
        img.src = prototypeUrl(cluster.id);
        item.append(img);
      }
      item.addEventListener('click', (event) => choose(cluster, event));
      item.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          choose(cluster, event);
        }
      });
      list.append(item);
    }
    mark();
  }

  function choose(cluster, event) {
    store.selectPositions(cluster.positions, event.shiftKey ? 'add' : 'replace');
  }

  function mark() {
    const mask = store.mask;
    for (const [n, item] of [...list.children].entries()) {
      const cluster = clusters[n];
      let selected = 0;
      for (const p of cluster.positions) selected += mask[p] || 0;
      item.setAttribute('aria-selected', String(selected === cluster.count && selected > 0));
      item.classList.toggle('partial', selected > 0 && selected < cluster.count);
      item.title = `${selected} of ${cluster.count} selected`;
    }
  }

  function refreshPrototypes() {
    for (const img of list.querySelectorAll('img.prototype')) { // token prototypes have no colours
      img.src = prototypeUrl(Number(img.parentElement.dataset.cluster));
    }
  }

  toggle.addEventListener('change', render);
  store.on('points', render);
  store.on('selection', mark);
  store.on('state', ({ changed }) => changed.has('colormap') && refreshPrototypes());
}
