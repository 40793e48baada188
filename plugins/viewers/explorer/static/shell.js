// The explorer shell: mounts every registered panel into its page region, keeps the URL in sync
// with the state, and loads project details and points when the state asks for new ones.

import { Api } from './api.js';
import * as palette from './palette.js';
import { Shortcuts } from './shortcuts.js';
import { paramsToState, stateToParams, encodeRanges } from './state_codec.js';
import { Store } from './store.js';

const POINT_KEYS = ['analysis', 'category', 'clustering', 'embedding', 'xdim', 'ydim'];
const PREFERRED_COLORMAPS = ['coldnhot', 'bwr', 'france', 'gray'];
const URL_SELECTION_LIMIT = 2000; // characters of ranges kept in the address bar
const PREFERRED_EMBEDDINGS = ['tsne', 'umap']; // the first screen shows a 2-D view when offered

function pick(current, options) {
  return options.includes(current) ? current : options.length ? options[0] : null;
}

export class Controller {
  constructor(store, api) {
    this.store = store;
    this.api = api;
    this.pointsRequest = 0;
    this.projectRequest = 0;
    this.abort = null;
    this.loadQueued = false;
  }

  async start() {
    const store = this.store;
    const { patch, problems } = paramsToState(new URLSearchParams(window.location.search));
    for (const problem of problems) store.message(`URL: ${problem}`, 'error');
    const [projects, colormaps] = await Promise.all([this.api.projects(), this.api.colormaps()]);
    store.projects = projects;
    store.colormaps = colormaps;
    store.emit('projects', projects);
    store.emit('colormaps', colormaps);
    if (!projects.length) {
      store.message('no projects are served', 'error');
      return;
    }
    const ids = projects.map((p) => String(p.id));
    const names = colormaps.map((c) => c.name);
    const preferred = PREFERRED_COLORMAPS.find((name) => names.includes(name)) || names[0] || null;
    patch.project = pick(patch.project, ids);
    patch.colormap = names.includes(patch.colormap) ? patch.colormap : preferred;
    store.on('state', ({ changed }) => this.onState(changed));
    document.body.dataset.sampling = store.state.sampling;
    store.set(patch); // the project changes from null: onState loads it
  }

  onState(changed) {
    document.body.dataset.sampling = this.store.state.sampling;
    if (changed.has('project')) this.loadProject();
    else if (POINT_KEYS.some((key) => changed.has(key))) this.queuePoints();
    this.syncUrl();
  }

  /** Load the current project's details, then fix the analysis choices to ones it offers. */
  async loadProject() {
    const store = this.store;
    const id = store.state.project;
    const request = ++this.projectRequest;
    document.body.dataset.loading = 'project';
    let project;
    try {
      project = await this.api.project(id);
    } catch (error) {
      if (request === this.projectRequest) store.message(error.message, 'error');
      return;
    }
    if (request !== this.projectRequest) return;
    store.project = project;
    store.emit('project', project);
    this.fixChoices();
    this.queuePoints();
  }

  /** Replace analysis/category/clustering/embedding/dims that the project lacks by its first. */
  fixChoices() {
    const store = this.store;
    const project = store.project;
    const s = store.state;
    const analysis = pick(s.analysis, project.analyses.map((a) => a.method));
    const details = project.analyses.find((a) => a.method === analysis);
    const patch = { analysis };
    if (details) {
      // categories come ranked by separability: the first is the one to look at first
      patch.category = pick(s.category, details.categories.map((c) => c.id));
      const category = details.categories.find((c) => c.id === patch.category);
      const best = category && category.best_clustering;
      const clustering = details.clusterings.includes(s.clustering) ? s.clustering : best;
      patch.clustering = pick(clustering, details.clusterings);
      const names = details.embeddings.map((e) => e.name);
      const view = PREFERRED_EMBEDDINGS.find((name) => names.includes(name));
      patch.embedding = pick(names.includes(s.embedding) ? s.embedding : view, names);
      const embedding = details.embeddings.find((e) => e.name === patch.embedding);
      const dims = embedding ? embedding.dims : 2;
      patch.xdim = s.xdim < dims ? s.xdim : 0;
      patch.ydim = s.ydim < dims ? s.ydim : Math.min(1, dims - 1);
    } else {
      Object.assign(patch, { category: null, clustering: null, embedding: null });
    }
    store.set(patch);
  }

  queuePoints() {
    if (this.loadQueued) return;
    this.loadQueued = true;
    queueMicrotask(() => {
      this.loadQueued = false;
      this.loadPoints();
    });
  }

  async loadPoints() {
    const store = this.store;
    const s = store.state;
    if (!store.project || String(store.project.id) !== String(s.project)) return;
    const details = store.currentAnalysis();
    if (details) {
      // the analysis may have changed under us: make the dependent choices valid first
      const categories = details.categories.map((c) => c.id);
      const embeddings = details.embeddings.map((e) => e.name);
      const invalid =
        !categories.includes(s.category) ||
        !details.clusterings.includes(s.clustering) ||
        !embeddings.includes(s.embedding);
      if (invalid) {
        this.fixChoices();
        return; // fixChoices changed the state, which queues another load
      }
      const embedding = details.embeddings.find((e) => e.name === s.embedding);
      if (s.xdim >= embedding.dims || s.ydim >= embedding.dims) {
        this.fixChoices();
        return;
      }
    }
    const request = ++this.pointsRequest;
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    if (!details) {
      store.setPoints(null);
      store.message('this project has no analyses to show', 'info');
      return;
    }
    document.body.dataset.loading = 'points';
    const params = {
      category: s.category,
      clustering: s.clustering,
      embedding: s.embedding,
      x: s.xdim,
      y: s.ydim,
    };
    try {
      const points = await this.api.points(s.project, s.analysis, params, this.abort.signal);
      if (request !== this.pointsRequest) return;
      points.key = JSON.stringify([s.project, s.analysis, params]);
      points.project = s.project;
      points.analysis = s.analysis;
      store.setPoints(points);
      delete document.body.dataset.loading;
    } catch (error) {
      if (error.name === 'AbortError' || request !== this.pointsRequest) return;
      store.setPoints(null);
      store.message(error.message, 'error');
    }
  }

  shareUrl() {
    const params = stateToParams(this.store.state, { withSelection: true });
    return `${window.location.origin}${window.location.pathname}?${params}`;
  }

  syncUrl() {
    const state = this.store.state;
    const short = encodeRanges(state.selection).length <= URL_SELECTION_LIMIT;
    const params = stateToParams(state, { withSelection: short });
    const url = `${window.location.pathname}?${params}`;
    if (url !== `${window.location.pathname}${window.location.search}`) {
      window.history.replaceState(null, '', url);
    }
  }
}

function showMessages(store) {
  const box = document.getElementById('messages');
  store.on('message', ({ text, kind }) => {
    const item = document.createElement('div');
    item.className = `message message-${kind}`;
    item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    item.textContent = text;
    box.append(item);
    setTimeout(() => item.remove(), kind === 'error' ? 8000 : 3500);
  });
}

async function mountPanels(panels, context) {
  for (const panel of panels) {
    const region = document.querySelector(`[data-region="${panel.region}"]`);
    if (!region) continue;
    const section = document.createElement('section');
    section.className = `panel panel-${panel.name}`;
    section.dataset.panel = panel.name;
    section.setAttribute('aria-label', panel.description || panel.name);
    region.append(section);
    for (const url of panel.js) {
      try {
        const module = await import(url);
        const mount = module.mount || module.default;
        if (typeof mount === 'function') await mount(section, { ...context, panel });
      } catch (error) {
        console.error(`relscope: panel ${panel.name} failed`, error);
        section.classList.add('panel-failed');
        section.textContent = `panel ${panel.name} failed to load: ${error.message}`;
      }
    }
  }
}

async function main() {
  const store = new Store();
  const api = new Api();
  const shortcuts = new Shortcuts();
  const controller = new Controller(store, api);
  const context = { store, api, shortcuts, palette, controller };
  window.relscope = context; // for the console and for tests
  showMessages(store);
  try {
    const panels = await api.panels();
    await mountPanels(panels, context);
    await controller.start();
    document.body.dataset.ready = '1';
  } catch (error) {
    store.message(`the explorer failed to start: ${error.message}`, 'error');
    throw error;
  }
}

main();
